/**
 * Header-only middleware (helmet, cors for a request without `Origin`) set the same headers on every answer: this
 * records what one sets, once at start-up, so a request pays a few `setHeader` calls instead of the library's chain
 * (helmet is twelve middleware; cors copies its options per request). The library stays the source of the values.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';

export type FixedHeaders = readonly (readonly [name: string, value: string | number | readonly string[]])[];

/**
 * Runs `middleware` once against a stand-in request (`method`, `headers`) and returns the headers it set, in order.
 * Refuses a middleware that does anything else (reads another field of either, answers, or calls `next` later or with
 * an error): its headers would not be fixed. A removed header is dropped from the recording.
 */
export function headersSetBy(middleware: RequestHandler, request: { method: string; headers: IncomingHttpHeaders }): FixedHeaders {
  const set = new Map<string, [string, string | number | readonly string[]]>();
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      set.set(name.toLowerCase(), [name, value]);
      return response;
    },
    getHeader: (name: string) => set.get(name.toLowerCase())?.[1],
    // helmet removes X-Powered-By, which Express is told not to send (app.disable('x-powered-by')).
    removeHeader: (name: string) => void set.delete(name.toLowerCase()),
  };
  let nextArgs: unknown[] | undefined;
  const stand = new Proxy(response, {
    get(target, key) {
      if (key in target) return target[key as keyof typeof target];
      throw new Error(`headersSetBy: the middleware read res.${String(key)}; its headers are not fixed`);
    },
  });
  const req = new Proxy(request, {
    get(target, key) {
      if (key in target) return target[key as keyof typeof target];
      throw new Error(`headersSetBy: the middleware read req.${String(key)}; its headers are not fixed`);
    },
  });
  middleware(req as never, stand as never, (...args: unknown[]) => {
    nextArgs = args;
  });
  const args = nextArgs as unknown[] | undefined; // set by the callback above, if it ran
  if (args === undefined) throw new Error('headersSetBy: the middleware did not call next() at once');
  if (args[0] !== undefined) throw new Error('headersSetBy: the middleware called next() with an error');
  return [...set.values()];
}

/** Sets recorded headers on an answer. */
export function setFixedHeaders(res: { setHeader(name: string, value: string | number | readonly string[]): unknown }, headers: FixedHeaders): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}
