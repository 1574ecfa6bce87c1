/**
 * Runs async update handlers one at a time, in arrival order, so each sees the state the previous
 * one left (Temporal interleaves handlers at every `await`). Deterministic: just a promise chain.
 */
export function serialQueue() {
  let tail: Promise<unknown> = Promise.resolve();
  return function serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };
}
