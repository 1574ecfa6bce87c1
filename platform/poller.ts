/**
 * A background round run every `everyMs` until stopped (the worker's relays and dispatcher): rounds never
 * overlap, a failed round is logged and the next one comes anyway, and `stop()` waits for the round in progress.
 */
import type { Logger } from './logger';

export interface Poller {
  /** True once stop() was called: a round checks it between items. */
  readonly stopped: boolean;
  stop(): Promise<void>;
}

export function poll(everyMs: number, round: (poller: Poller) => Promise<void>, log: Logger, what: string): Poller {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const poller = {
    stopped: false,
    async stop() {
      poller.stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
  const schedule = () => {
    if (poller.stopped) return;
    timer = setTimeout(() => {
      current = round(poller)
        .catch((err) => log.warn({ err }, `${what} round failed`))
        .finally(schedule);
    }, everyMs);
  };
  schedule();
  return poller;
}
