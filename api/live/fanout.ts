/**
 * One API node's end of the live bus: a dedicated Redis subscriber connection, subscribed to the channel of each
 * tenant with a connection on this node (and unsubscribed when its last one leaves), handing every message, parsed
 * once, to that tenant's local listeners.
 */
import type { Redis } from 'ioredis';
import { liveChannelOf } from '../../platform/channels';
import type { LiveBusMessage } from '../../platform/live-bus';
import type { Logger } from '../../platform/logger';

export type LiveListener = (message: LiveBusMessage) => void;

export interface Fanout {
  /** Starts hearing a tenant's messages; resolves once the subscription is in place. Returns the unsubscribe. */
  listen(tenantId: string, listener: LiveListener): Promise<() => void>;
  close(): Promise<void>;
}

export function createFanout(redis: Redis, log: Logger): Fanout {
  const subscriber = redis.duplicate();
  const listeners = new Map<string, Set<LiveListener>>(); // by channel
  const subscribed = new Map<string, Promise<unknown>>(); // by channel: resolves once Redis confirmed it
  const tenantOf = new Map<string, string>();

  subscriber.on('message', (channel: string, raw: string) => {
    const set = listeners.get(channel);
    if (!set?.size) return;
    let message: LiveBusMessage;
    try {
      message = JSON.parse(raw) as LiveBusMessage;
    } catch (err) {
      log.warn({ err, tenantId: tenantOf.get(channel) }, 'unreadable live message dropped');
      return;
    }
    for (const listener of set) listener(message);
  });
  subscriber.on('error', (err) => log.warn({ err }, 'live subscriber connection error (ioredis reconnects and resubscribes)'));

  return {
    async listen(tenantId, listener) {
      const channel = liveChannelOf(redis, tenantId);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        tenantOf.set(channel, tenantId);
      }
      set.add(listener);
      let ready = subscribed.get(channel);
      if (!ready) {
        ready = subscriber.subscribe(channel).catch((err: unknown) => {
          subscribed.delete(channel); // the next listener tries again
          throw err;
        });
        subscribed.set(channel, ready);
      }
      await ready;
      return () => {
        const current = listeners.get(channel);
        if (!current?.delete(listener) || current.size > 0) return;
        listeners.delete(channel);
        subscribed.delete(channel);
        tenantOf.delete(channel);
        void subscriber.unsubscribe(channel).catch(() => undefined);
      };
    },
    async close() {
      listeners.clear();
      subscriber.disconnect();
    },
  };
}
