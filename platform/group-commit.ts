/**
 * Group commit: writes of the same key (a tenant) that arrive while an earlier write of that key is in flight are
 * written together as soon as it ends, in one batch (one statement, one commit). The first write of an idle key
 * goes at once, so nothing waits on a timer; under load batches grow by themselves.
 *
 * A failed batch of several is written again one item at a time: an item that cannot be written fails alone.
 */
export interface GroupCommit<T> {
  write(key: string, item: T): Promise<void>;
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function groupCommit<T>(writeBatch: (key: string, items: T[]) => Promise<void>, maxBatch: number): GroupCommit<T> {
  const queues = new Map<string, Pending<T>[]>();
  const busy = new Set<string>();

  async function settle(key: string, batch: Pending<T>[]): Promise<void> {
    try {
      await writeBatch(
        key,
        batch.map((p) => p.item),
      );
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) await settle(key, [p]);
    }
  }

  async function drain(key: string): Promise<void> {
    busy.add(key);
    try {
      for (let queue = queues.get(key); queue?.length; queue = queues.get(key)) await settle(key, queue.splice(0, maxBatch));
    } finally {
      queues.delete(key);
      busy.delete(key);
    }
  }

  return {
    write(key, item) {
      return new Promise<void>((resolve, reject) => {
        const queue = queues.get(key) ?? [];
        queue.push({ item, resolve, reject });
        queues.set(key, queue);
        if (!busy.has(key)) void drain(key);
      });
    },
  };
}
