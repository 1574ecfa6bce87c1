/**
 * What one live connection still has to send. Frames go straight to the socket while it keeps up; once its own buffer
 * passes half the bound they wait here, in order, and a burst of `ticket.updated` for one ticket collapses to its latest
 * (each carries the whole ticket, so the latest says all the client needs; the earlier ids are skipped, the order of
 * the rest is kept). A connection whose waiting and unsent bytes pass the bound is a slow consumer: `overflow` is called
 * and nothing more is queued for it. Memory per connection is bounded either way.
 */
import type { WebSocket } from 'ws';

interface Entry {
  frame: string;
  key: string | undefined;
  dropped: boolean;
}

const FLUSH_EVERY_MS = 20;

export class SendQueue {
  private entries: Entry[] = [];
  private byKey = new Map<string, Entry>();
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private overflowed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly maxBytes: number,
    private readonly overflow: () => void,
  ) {}

  /** `coalesceKey`: a later frame with the same key replaces this one while both wait. */
  push(frame: string, coalesceKey?: string): void {
    if (this.overflowed) return;
    if (this.entries.length === 0 && this.ws.bufferedAmount <= this.maxBytes / 2) {
      this.ws.send(frame);
      return;
    }
    const earlier = coalesceKey === undefined ? undefined : this.byKey.get(coalesceKey);
    if (earlier) {
      earlier.dropped = true;
      this.queuedBytes -= earlier.frame.length;
    }
    const entry: Entry = { frame, key: coalesceKey, dropped: false };
    this.entries.push(entry);
    if (coalesceKey !== undefined) this.byKey.set(coalesceKey, entry);
    this.queuedBytes += frame.length;
    if (this.queuedBytes + this.ws.bufferedAmount > this.maxBytes) {
      this.overflowed = true;
      this.clear();
      this.overflow();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }

  /** Frames waiting (not counting those collapsed into a later one). */
  get waiting(): number {
    return this.entries.filter((e) => !e.dropped).length;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.entries = [];
    this.byKey.clear();
    this.queuedBytes = 0;
  }

  private flush(): void {
    this.timer = undefined;
    let sent = 0;
    while (sent < this.entries.length && this.ws.bufferedAmount <= this.maxBytes / 2) {
      const entry = this.entries[sent++]!;
      if (entry.dropped) continue;
      if (entry.key !== undefined && this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
      this.queuedBytes -= entry.frame.length;
      this.ws.send(entry.frame);
    }
    this.entries.splice(0, sent);
    if (this.entries.length > 0) this.timer = setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }
}
