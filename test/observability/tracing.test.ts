/**
 * Tracing: one request is one trace, from the API's HTTP span through the Temporal update-with-start, the workflow's
 * spans and its activities (PostgreSQL, Redis) on the worker, to the webhook's first attempt (a later poll, joined to
 * the trace through the event's stored traceparent) and the receiver's `traceparent` header. API and worker are real
 * processes exporting over OTLP/HTTP (JSON) to an in-memory collector in this test, configured only by `OTEL_*`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { edgeSampler, tracingEnabled } from '../../platform/tracing';
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { createTenant, http, type Tenant } from '../support/stack';
import { eventually, type Receiver, seedEndpoint, startReceiver } from '../webhooks/support';

jest.setTimeout(120_000);

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** An OTLP/HTTP JSON trace receiver that keeps every span in memory. */
async function startCollector() {
  const spans: ExportedSpan[] = [];
  const value = (v: Record<string, unknown>) => Object.values(v)[0];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const service = String(value(rs.resource.attributes.find((a: any) => a.key === 'service.name')?.value ?? {}));
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              attributes: Object.fromEntries((s.attributes ?? []).map((a: any) => [a.key, value(a.value)])),
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, spans, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let collector: Awaited<ReturnType<typeof startCollector>>;
let isolated: IsolatedStack;
let tenant: Tenant;
let receiver: Receiver;
const QUERY_TOKEN = 'qt-0b3c9e1d7a';

beforeAll(async () => {
  collector = await startCollector();
  isolated = await startIsolatedStack('tracing', {
    LOG_LEVEL: 'info',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    // Roots never sampled, callers' sampled traceparents always: which requests are traced is the test's choice.
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
  });
  tenant = await createTenant(isolated.stack, 'Traced');
  receiver = await startReceiver();
  // An integrator's token in the URL's query: it must not reach a span.
  await seedEndpoint(isolated.stack, tenant.id, `${receiver.url}?token=${QUERY_TOKEN}`);
});
afterAll(async () => {
  await Promise.allSettled([receiver?.close()]);
  await isolated?.close();
  await collector?.close();
});

test('tracing is off unless an exporter or an OTLP endpoint is configured', () => {
  expect(tracingEnabled({})).toBe(false);
  expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
  expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
  expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBe(false);
});

test('the edge samples at the configured ratio and follows a caller that says sampled or not', () => {
  expect(edgeSampler({})).toBeNull(); // parentbased_always_on: every request, nothing to decide early
  expect(edgeSampler({ OTEL_TRACES_SAMPLER: 'always_on' })).toBeNull();
  expect(edgeSampler({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toBeNull();
  const tenth = edgeSampler({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })!;
  const share = Array.from({ length: 20_000 }, () => tenth()).filter(Boolean).length / 20_000;
  expect(share).toBeGreaterThan(0.08);
  expect(share).toBeLessThan(0.12);
  const id = `${'a'.repeat(32)}-${'b'.repeat(16)}`;
  expect(tenth(`00-${id}-01`)).toBe(true);
  expect(tenth(`00-${id}-00`)).toBe(false);
  expect(edgeSampler({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })!()).toBe(false);
  // Not parent-based: the caller's flag is not followed.
  const never = edgeSampler({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })!;
  expect(never(`00-${id}-01`)).toBe(false);
});

test('a create is one trace from the API request through the workflow and its activities to the webhook', async () => {
  const traceId = randomBytes(16).toString('hex');
  const res = await http(isolated.api, 'POST', '/api/v1/tickets', {
    headers: { ...tenant.headers, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    body: { subject: 'Traced end to end', description: 'One trace, please.', customer_id: tenant.customerId },
  });
  expect(res.status).toBe(201);

  const trace = () => collector.spans.filter((s) => s.traceId === traceId);
  const has = (service: string, test: (s: ExportedSpan) => boolean) => trace().some((s) => s.service === service && test(s));
  const expected: [string, string, (s: ExportedSpan) => boolean][] = [
    ['API: the HTTP server span', 'deskflow-api', (s) => s.kind === 2 && s.attributes['http.method'] === 'POST'],
    ['API: an Express route handler', 'deskflow-api', (s) => s.attributes['express.type'] === 'request_handler'],
    ['API: a PostgreSQL statement', 'deskflow-api', (s) => s.attributes['db.system'] === 'postgresql'],
    ['API: a Redis command', 'deskflow-api', (s) => s.attributes['db.system'] === 'redis'],
    ['API: the update-with-start', 'deskflow-api', (s) => s.name.startsWith('UpdateWithStartWorkflow:')],
    ['worker: the update handler', 'deskflow-worker', (s) => s.name.startsWith('HandleUpdate:')],
    ['worker: the projection activity', 'deskflow-worker', (s) => s.name === 'RunActivity:projectTicketChange'],
    ['worker: a PostgreSQL statement', 'deskflow-worker', (s) => s.attributes['db.system'] === 'postgresql'],
    ['worker: the live event on Redis', 'deskflow-worker', (s) => s.attributes['db.system'] === 'redis'],
    ['worker: the webhook dispatch', 'deskflow-worker', (s) => s.name === 'webhook dispatch'],
    ['worker: the webhook POST', 'deskflow-worker', (s) => s.kind === 3 && String(s.attributes['http.url'] ?? '').startsWith(receiver.url)],
  ];
  const missing = () => expected.filter(([, service, test]) => !has(service, test)).map(([what]) => what);
  await eventually(missing, (m) => m.length === 0, 30_000);
  expect(missing()).toEqual([]);

  // One tree: every span's parent is a span of the trace, but for the caller's.
  const ids = new Set(trace().map((s) => s.spanId));
  const server = trace().find((s) => s.kind === 2)!;
  const caller = server.parentSpanId;
  // The server span is named by the route template Express matched, and its target carries no query.
  expect(server.name).toBe('POST /api/v1/tickets');
  expect(server.attributes['http.route']).toBe('/api/v1/tickets');
  expect(server.attributes['http.status_code']).toBe(201);
  const orphans = trace().filter((s) => !ids.has(s.parentSpanId));
  expect(orphans.map((s) => s.parentSpanId)).toEqual([caller]);
  // The update handler's span and the activity it ran are children of the Workflow Update's client span.
  const update = trace().find((s) => s.name.startsWith('UpdateWithStartWorkflow:'))!.spanId;
  expect(trace().find((s) => s.name === 'HandleUpdate:ticketOpened')!.parentSpanId).toBe(update);
  expect(trace().find((s) => s.name === 'RunActivity:projectTicketChange')!.parentSpanId).toBe(update);
  // The receiver was told the trace too (W3C traceparent), and the API's log line for the request names it.
  expect(receiver.received.some((r) => String(r.headers.traceparent ?? '').includes(traceId))).toBe(true);
  // What spans record leaves out the webhook URL's query and Redis commands' arguments (session ids, digests).
  expect(JSON.stringify(collector.spans)).not.toContain(QUERY_TOKEN);
  for (const s of trace().filter((x) => x.attributes['db.system'] === 'redis')) expect(String(s.attributes['db.statement'])).toMatch(/^\w+$/);
  // Pollers' statements are not traces of their own: every database span has a parent.
  expect(collector.spans.filter((s) => s.attributes['db.system'] && !s.parentSpanId).map((s) => s.name)).toEqual([]);
  const requestLine = isolated.api
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.msg === 'request' && l.path === '/api/v1/tickets' && l.trace_id === traceId);
  expect(requestLine).toEqual(expect.objectContaining({ trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) }));
});

test('unsampled requests export nothing, on the API or the worker, and their workflows start no trace of their own', async () => {
  const notSampled = randomBytes(16).toString('hex');
  const created: string[] = [];
  for (const traceparent of [`00-${notSampled}-${randomBytes(8).toString('hex')}-00`, undefined]) {
    const res = await http(isolated.api, 'POST', '/api/v1/tickets', {
      headers: { ...tenant.headers, ...(traceparent ? { traceparent } : {}) },
      body: { subject: 'Not sampled', description: 'No spans for this one.', customer_id: tenant.customerId },
    });
    expect(res.status).toBe(201);
    created.push(res.body.id as string);
  }
  // Their webhooks are delivered: by then every span of their work has ended (batches leave every 100 ms).
  await eventually(
    () => receiver.received.filter((r) => created.some((id) => r.body.includes(id))).length,
    (n) => n >= 2,
  );
  await new Promise((r) => setTimeout(r, 1000));
  expect(collector.spans.filter((s) => s.traceId === notSampled)).toEqual([]);
  const ofTheirWorkflows = collector.spans.filter((s) => created.some((id) => JSON.stringify(s.attributes).includes(id)));
  expect(ofTheirWorkflows.map((s) => s.name)).toEqual([]);
});
