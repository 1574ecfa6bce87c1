/**
 * One webhook POST against real loopback servers: the timeout, the capped response excerpt, network errors,
 * redirects never followed, and the look-up hook the SSRF check plugs into. Plus the retry schedule.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { EXTENDED_DELAYS_MS, nextDelayMs, parseRetryAfter, retryDelayMs, retryPolicyFor, verdictOf, WebhookRetrySchedule } from '../../domain/webhook-retry';
import { postWebhook, RESPONSE_EXCERPT_BYTES } from '../../platform/webhook-http';
import { freePort } from '../support/processes';

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

it('a receiver slower than the timeout: no status, a timeout error, within the bound', async () => {
  const url = await serve((_req, res) => setTimeout(() => res.end('late'), 3000));
  const res = await postWebhook({ url, headers: {}, body: '{}', timeoutMs: 300 });
  expect(res).toMatchObject({ status: null, error: 'timeout after 300 ms' });
  expect(res.durationMs).toBeLessThan(1500);
});

it('a huge (endless) response body: only the first KiB is kept, and the attempt ends', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200);
    const chunk = 'x'.repeat(64 * 1024);
    const pump = () => {
      while (res.write(chunk)) {
        // keep writing until the socket pushes back
      }
      res.once('drain', pump);
    };
    pump();
    res.on('close', () => res.removeAllListeners('drain'));
  });
  const res = await postWebhook({ url, headers: {}, body: '{}', timeoutMs: 5000 });
  expect(res.status).toBe(200);
  expect(res.bodyExcerpt).toHaveLength(RESPONSE_EXCERPT_BYTES);
  expect(res.error).toBeNull();
});

it('a refused connection is a network error; a 302 is returned as is, never followed', async () => {
  const closed = await postWebhook({ url: `http://127.0.0.1:${await freePort()}/x`, headers: {}, body: '{}', timeoutMs: 2000 });
  expect(closed.status).toBeNull();
  expect(closed.error).toMatch(/ECONNREFUSED/);

  let followed = 0;
  const target = await serve((_req, res) => {
    followed++;
    res.end();
  });
  const url = await serve((_req, res) => {
    res.writeHead(302, { Location: target });
    res.end();
  });
  const res = await postWebhook({ url, headers: {}, body: '{}', timeoutMs: 2000 });
  expect(res.status).toBe(302);
  expect(res.headers?.location).toBe(target);
  expect(followed).toBe(0);
});

it('the look-up hook decides where the socket connects (the SSRF check pins the address it checked)', async () => {
  let body = '';
  const url = await serve((req, res) => {
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end());
  });
  const port = new URL(url).port;
  const asked: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    asked.push(hostname);
    if (options.all) return (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
    callback(null, '127.0.0.1', 4);
  };
  const res = await postWebhook({ url: `http://receiver.invalid:${port}/hook`, headers: {}, body: '{"a":1}', timeoutMs: 2000, lookup });
  expect(res.status).toBe(200);
  expect(asked).toEqual(['receiver.invalid']);
  expect(body).toBe('{"a":1}');

  const refused: LookupFunction = (_hostname, _options, callback) => callback(new Error('address refused: 10.0.0.1 is private'), '', 4);
  const blocked = await postWebhook({ url: `http://receiver.invalid:${port}/hook`, headers: {}, body: '{}', timeoutMs: 2000, lookup: refused });
  expect(blocked).toMatchObject({ status: null, error: 'address refused: 10.0.0.1 is private' });
});

it('the retry schedule: 1 s, 2 s, 4 s (+ ≤ 25 % jitter), Retry-After as a floor, everything capped', () => {
  const schedule = { baseMs: 1000, maxMs: 3_600_000 };
  expect([1, 2, 3].map((n) => retryDelayMs(n, schedule, 0))).toEqual([1000, 2000, 4000]);
  expect(retryDelayMs(1, schedule, 0.999)).toBe(1250);
  expect(retryDelayMs(1, schedule, 0.5, 2000)).toBe(2000);
  expect(retryDelayMs(3, schedule, 0, 2000)).toBe(4000);
  expect(retryDelayMs(1, schedule, 0, 10 * 3_600_000)).toBe(3_600_000);
  expect(retryDelayMs(40, schedule, 0)).toBe(3_600_000);
  const policy = { max_retries: 3, base_delay_ms: 1000, max_delay_ms: 3_600_000 };
  expect([1, 2, 3, 4].map((n) => nextDelayMs(n, policy, 0, null))).toEqual([1000, 2000, 4000, null]); // 1 + 3 attempts
  expect(nextDelayMs(1, { ...policy, max_retries: 0 }, 0, null)).toBeNull();
  expect(parseRetryAfter('2', 0)).toBe(2000);
  expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60_000);
  expect(parseRetryAfter('soon', 0)).toBeNull();
  expect(parseRetryAfter(undefined, 0)).toBeNull();
  expect([200, 204, 299, 301, 302, 400, 410, 429, 500, null].map(verdictOf)).toEqual([
    'delivered',
    'delivered',
    'delivered',
    'retry',
    'retry',
    'retry',
    'gone',
    'retry',
    'retry',
    'retry',
  ]);
});

it('the extended preset: 9 retries over about 3 days, jittered, Retry-After may stretch a delay up to the cap', () => {
  const standard = { max_retries: 3, base_delay_ms: 1000, max_delay_ms: 3_600_000 };
  expect(retryPolicyFor('standard', standard)).toBe(standard);
  const extended = retryPolicyFor('extended', standard);
  expect(extended.max_retries).toBe(EXTENDED_DELAYS_MS.length);
  const delays = Array.from({ length: 10 }, (_, i) => nextDelayMs(i + 1, extended, 0, null));
  expect(delays.slice(0, 9)).toEqual([...EXTENDED_DELAYS_MS]);
  expect(delays[9]).toBeNull(); // 1 + 9 attempts, then the dead letter
  const total = EXTENDED_DELAYS_MS.reduce((a, b) => a + b, 0);
  expect(total / 3_600_000).toBeGreaterThan(70);
  expect(total / 3_600_000).toBeLessThan(80);
  expect(nextDelayMs(1, extended, 0.999, null)).toBe(Math.round(5000 * (1 + 0.25 * 0.999)));
  // Scheduled delays longer than the cap are kept (the cap bounds what a receiver may ask for)…
  expect(nextDelayMs(9, extended, 0, null)).toBe(24 * 3_600_000);
  // …and Retry-After raises a short one, but never above the cap.
  expect(nextDelayMs(1, extended, 0, 120_000)).toBe(120_000);
  expect(nextDelayMs(1, extended, 0, 10 * 3_600_000)).toBe(3_600_000);
  expect(WebhookRetrySchedule.safeParse('weekly').success).toBe(false);
});
