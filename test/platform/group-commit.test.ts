/** Group commit: the first write goes at once, writes made meanwhile go together, a bad item fails alone. */
import { groupCommit } from '../../platform/group-commit';

interface Written {
  key: string;
  items: number[];
}

/** A writer whose batches finish when released (so the test decides what is in flight), refusing item 13. */
function writer() {
  const written: Written[] = [];
  const waiting: (() => void)[] = [];
  const write = async (key: string, items: number[]) => {
    await new Promise<void>((resolve) => waiting.push(resolve));
    if (items.includes(13)) throw new Error('13 cannot be written');
    written.push({ key, items });
  };
  const releaseAll = async () => {
    while (waiting.length) {
      waiting.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { written, write, releaseAll };
}

it('the first write of a key goes alone at once; those made while it is in flight go next, together, up to the batch size', async () => {
  const w = writer();
  const commit = groupCommit(w.write, 3);
  const done = [1, 2, 3, 4, 5, 6].map((n) => commit.write('a', n));
  const other = commit.write('b', 7); // another key is not held up by a's batch
  for (let i = 0; i < 10; i++) await w.releaseAll();
  await Promise.all([...done, other]);
  expect(w.written).toEqual([
    { key: 'a', items: [1] },
    { key: 'b', items: [7] },
    { key: 'a', items: [2, 3, 4] },
    { key: 'a', items: [5, 6] },
  ]);
});

it('a failed batch is written again one item at a time: only the unwritable item fails', async () => {
  const w = writer();
  const commit = groupCommit(w.write, 10);
  const first = commit.write('a', 1);
  const batch = [12, 13, 14].map((n) =>
    commit.write('a', n).then(
      () => 'ok',
      (err: Error) => err.message,
    ),
  );
  for (let i = 0; i < 10; i++) await w.releaseAll();
  await first;
  expect(await Promise.all(batch)).toEqual(['ok', '13 cannot be written', 'ok']);
  expect(w.written).toEqual([
    { key: 'a', items: [1] },
    { key: 'a', items: [12] },
    { key: 'a', items: [14] },
  ]);
  // The key is idle again: the next write goes at once.
  const next = commit.write('a', 20);
  await w.releaseAll();
  await next;
  expect(w.written.at(-1)).toEqual({ key: 'a', items: [20] });
});
