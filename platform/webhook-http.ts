/**
 * One webhook POST: node's http/https `request` (no redirects are ever followed), a whole-attempt timeout,
 * and a response read only as far as its first KiB (the rest is discarded, never buffered). The address
 * look-up is a parameter so the SSRF check can resolve, check and pin the address the socket connects to.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

export const RESPONSE_EXCERPT_BYTES = 1024;
const MAX_HEADER_VALUE = 512;
const MAX_HEADERS = 50;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Resolves the host; node's own by default. */
  lookup?: LookupFunction;
}

export interface WebhookResponse {
  /** null: no response (timeout, refused, reset, bad URL). */
  status: number | null;
  headers: Record<string, string> | null;
  /** At most RESPONSE_EXCERPT_BYTES of the body (UTF-8, a cut character replaced). */
  bodyExcerpt: string | null;
  error: string | null;
  durationMs: number;
}

/** Response headers worth keeping in the attempt log: bounded in count and length. */
function keepHeaders(raw: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw).slice(0, MAX_HEADERS)) {
    if (value === undefined) continue;
    out[name] = (Array.isArray(value) ? value.join(', ') : value).slice(0, MAX_HEADER_VALUE);
  }
  return out;
}

export function postWebhook(req: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<WebhookResponse, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, durationMs: elapsed() });
    };
    const fail = (error: string) => done({ status: null, headers: null, bodyExcerpt: null, error });

    let url: URL;
    try {
      url = new URL(req.url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported protocol ${url.protocol}`);
    } catch (err) {
      const timer = undefined;
      void timer;
      settled = true;
      return resolve({ status: null, headers: null, bodyExcerpt: null, error: `invalid URL: ${(err as Error).message}`, durationMs: elapsed() });
    }
    const body = Buffer.from(req.body, 'utf8');
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: {
        ...req.headers,
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'Deskflow-Webhooks/1',
      },
      agent: false, // no pooled sockets: each attempt resolves (and checks) the address afresh
      lookup: req.lookup,
    });
    const timer = setTimeout(() => {
      fail(`timeout after ${req.timeoutMs} ms`);
      request.destroy();
    }, req.timeoutMs);
    request.on('error', (err) => fail(err.message || String(err)));
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      const finish = () => {
        // A receiver's NUL bytes would make the log row unstorable (and the attempt unrecordable, so sent again and
        // again): they are kept visible as U+FFFD. Invalid UTF-8 already decodes to U+FFFD.
        const excerpt = Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8').replaceAll('\0', '\uFFFD');
        done({ status: res.statusCode ?? null, headers: keepHeaders(res.headers), bodyExcerpt: excerpt, error: null });
      };
      res.on('data', (chunk: Buffer) => {
        if (kept < RESPONSE_EXCERPT_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
        if (kept >= RESPONSE_EXCERPT_BYTES) {
          // Enough of it: the rest is not read (a huge or endless body costs nothing).
          finish();
          res.destroy();
        }
      });
      res.on('end', finish);
      res.on('error', finish); // the status is what counts; a body cut short is still an answer
      res.on('aborted', finish);
    });
    request.end(body);
  });
}
