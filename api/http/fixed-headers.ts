/**
 * Header-only middleware (helmet, cors for a request without `Origin`) set the same headers on every answer: this
 * records what one sets, once at start-up, so a request pays a few `setHeader` calls instead of the library's chain
 * (helmet is twelve middleware; cors copies its options per request). The library stays the source of the values.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';

type HeaderValue = string | number | readonly string[];
export type FixedHeaders = readonly (readonly [name: string, value: HeaderValue])[];

/**
 * Runs `middleware` once against a stand-in request (`method`, `headers`) and returns the headers it set, in order.
 * Refuses a middleware that does anything else (reads another field of either, answers, or calls `next` later or with
 * an error): its headers would not be fixed. A removed header is dropped from the recording.
 */
export function headersSetBy(middleware: RequestHandler, request: { method: string; headers: IncomingHttpHeaders }): FixedHeaders {
  const set = new Map<string, [string, HeaderValue]>();
  const response = {
    setHeader(name: string, value: HeaderValue) {
      set.set(name.toLowerCase(), [name, value]);
      return response;
    },
    getHeader: (name: string) => set.get(name.toLowerCase())?.[1],
    // helmet removes X-Powered-By, which Express is told not to send (app.disable('x-powered-by')).
    removeHeader: (name: string) => void set.delete(name.toLowerCase()),
  };
  let nextArgs: unknown[] | undefined;
  middleware(onlyWhatIsGiven(request, 'req') as never, onlyWhatIsGiven(response, 'res') as never, (...args: unknown[]) => {
    nextArgs = args;
  });
  const args = nextArgs as unknown[] | undefined; // set by the callback above, if it ran
  if (args === undefined) throw new Error('headersSetBy: the middleware did not call next() at once');
  if (args[0] !== undefined) throw new Error('headersSetBy: the middleware called next() with an error');
  return [...set.values()];
}

/** `target` as the middleware sees it: reading anything it does not have is an error naming it. */
function onlyWhatIsGiven<T extends object>(target: T, name: 'req' | 'res'): T {
  return new Proxy(target, {
    get(t, key) {
      if (key in t) return t[key as keyof T];
      throw new Error(`headersSetBy: the middleware read ${name}.${String(key)}; its headers are not fixed`);
    },
  });
}

/** Sets recorded headers on an answer. */
export function setFixedHeaders(res: { setHeader(name: string, value: HeaderValue): unknown }, headers: FixedHeaders): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}
