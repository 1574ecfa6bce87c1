/**
 * One API node's end of the live bus: a dedicated Redis subscriber connection, subscribed to the channel of each
 * tenant with a connection on this node (and unsubscribed when its last one leaves), handing every message, parsed
 * once, to that tenant's local listeners.
 *
 * Pub/sub loses what is published while the subscriber is disconnected (Redis restarted, the connection killed).
 * ioredis reconnects and resubscribes; then each tenant's events since the last one heard are read back from its
 * stream (or `gap` is passed on when they are no longer kept), so connected clients miss nothing.
 */
import type { Redis } from 'ioredis';
import { liveChannelOf } from '../../platform/channels';
import { eventsSince, type LiveBusMessage, type LiveWindow } from '../../platform/live-bus';
import type { Logger } from '../../platform/logger';

/** `gap`: events may have been lost on this node (the client should resync). */
export type LiveListener = (message: LiveBusMessage | { kind: 'gap' }) => void;

export interface Fanout {
  /** Starts hearing a tenant's messages; resolves once the subscription is in place. Returns the unsubscribe. */
  listen(tenantId: string, listener: LiveListener): Promise<() => void>;
  close(): Promise<void>;
}

/** The subscriber connection's name (CLIENT LIST), per key prefix. */
export const subscriberNameOf = (redis: Redis) => `${(redis.options.keyPrefix ?? '').replace(/[^\w.-]/g, '_')}live-subscriber`;

export function createFanout(redis: Redis, log: Logger, window: LiveWindow): Fanout {
  const subscriber = redis.duplicate({ connectionName: subscriberNameOf(redis) });
  const lastHeard = new Map<string, string>(); // by channel: the last event id heard (or the subscription's start)
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
    if (message.kind === 'event') lastHeard.set(channel, message.id);
    for (const listener of set) listener(message);
  });
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (!connectedBefore) {
      connectedBefore = true;
      return;
    }
    for (const [channel, set] of listeners) void catchUp(channel, set);
  });

  async function catchUp(channel: string, set: Set<LiveListener>): Promise<void> {
    const tenantId = tenantOf.get(channel);
    const since = lastHeard.get(channel);
    if (!tenantId || !since) return;
    try {
      const missed = await eventsSince(redis, tenantId, since, window);
      if (missed === 'gap') for (const listener of set) listener({ kind: 'gap' });
      else
        for (const record of missed) {
          lastHeard.set(channel, record.id);
          for (const listener of set) listener({ kind: 'event', ...record });
        }
      if (missed !== 'gap' && missed.length) log.info({ tenantId, events: missed.length }, 'live events caught up after a subscriber reconnect');
    } catch (err) {
      log.warn({ err, tenantId }, 'live catch-up after a reconnect failed; clients are told to resync');
      for (const listener of set) listener({ kind: 'gap' });
    }
  }
  subscriber.on('error', (err) => log.warn({ err }, 'live subscriber connection error (ioredis reconnects and resubscribes)'));

  return {
    async listen(tenantId, listener) {
      const channel = liveChannelOf(redis, tenantId);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        tenantOf.set(channel, tenantId);
        lastHeard.set(channel, `${Date.now()}-0`);
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
        lastHeard.delete(channel);
        void subscriber.unsubscribe(channel).catch(() => undefined);
      };
    },
    async close() {
      listeners.clear();
      subscriber.disconnect();
    },
  };
}
