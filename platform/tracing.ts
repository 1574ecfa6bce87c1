/**
 * OpenTelemetry tracing, configured by the standard `OTEL_*` variables and off unless an exporter is named
 * (`OTEL_TRACES_EXPORTER`) or an OTLP endpoint is given. Off, nothing of the SDK is loaded and nothing is patched:
 * the calls below meet the API's no-op tracer.
 *
 * Versions are pinned on purpose: `@temporalio/interceptors-opentelemetry` 1.24 is built on OpenTelemetry JS 1.x
 * (`sdk-trace-base` 1.30, whose spans its workflow exporter sink rebuilds), so the SDK is `@opentelemetry/sdk-node`
 * 0.57, the last on 1.x, with the instrumentations of that line (HTTP client, pg, ioredis).
 *
 * The API's own side of HTTP is traced here rather than by the contrib instrumentations, which run code around every
 * request and every Express layer whether the request is sampled or not: the server span is `serveTraced`'s, and the
 * matched Express route's span is api/http/route.ts's `routeSpan` (named and attributed as
 * `@opentelemetry/instrumentation-express` names a request handler).
 *
 * Call `startTracing` before anything it instruments (http, pg, ioredis) is loaded: `api/tracing.ts` and
 * `workers/tracing.ts` are the first imports of their processes.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type Config, loadConfig } from './config';
import { requestContext } from './request-context';

export interface Tracing {
  enabled: boolean;
  /** What the workers' workflow-span sink exports through, with the process's resource (on only). */
  processor?: SpanProcessor;
  resource?: Resource;
  /**
   * Edge processes (the API), on only: wraps the HTTP server's request listener so each request that passes the edge
   * sampler runs in a server span of its own; the rest run with no tracing code around them at all.
   */
  serve?: (listener: RequestListener) => RequestListener;
  /** Flushes what is buffered and stops; a no-op when off. */
  shutdown(): Promise<void>;
}

type TracingSettings = Partial<
  Pick<Config, 'OTEL_SDK_DISABLED' | 'OTEL_TRACES_EXPORTER' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'>
>;

/** On when an exporter is named (and it is not `none`) or an OTLP endpoint is set, and the SDK is not disabled. */
export function tracingEnabled(env: TracingSettings): boolean {
  if (/^(true|1)$/i.test(env.OTEL_SDK_DISABLED ?? '')) return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').trim();
  if (exporters) return exporters !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

const OFF: Tracing = { enabled: false, shutdown: async () => {} };

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-([\da-f]{2})$/;

/**
 * Head sampling at the edge: whether an incoming request is traced, decided from the configured sampler before any
 * instrumentation runs. An unsampled request then runs outside any span and pays (almost) nothing; left to the
 * SDK's sampler it would still build attributes, non-recording spans and contexts for every layer, statement and
 * command (bench/RESULTS.md: that halved the GET's throughput at 10 %). Parent-based samplers follow a caller's
 * `traceparent` flag. Null when every request is sampled anyway, or for a sampler decided elsewhere (e.g. remote).
 */
export function edgeSampler(settings: Partial<Pick<Config, 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG'>>): ((traceparent?: string) => boolean) | null {
  const sampler = settings.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on';
  const arg = Number(settings.OTEL_TRACES_SAMPLER_ARG ?? 1);
  const ratio: Record<string, number> = {
    always_on: 1,
    parentbased_always_on: 1,
    always_off: 0,
    parentbased_always_off: 0,
    traceidratio: Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1,
    parentbased_traceidratio: Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1,
  };
  const share = ratio[sampler];
  if (share === undefined || share === 1) return null;
  const parentBased = sampler.startsWith('parentbased_');
  return (traceparent) => {
    const flags = parentBased && traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
    return flags !== undefined ? (Number.parseInt(flags, 16) & 1) === 1 : Math.random() < share;
  };
}

/** `edge`: this process takes requests from outside (the API): it samples them at the edge (`edgeSampler`). */
export function startTracing(serviceName: string, { edge = false } = {}): Tracing {
  // The SDK reads the OTEL_* variables itself; the schema checks the rest of the configuration as the process will.
  const config = loadConfig();
  if (!tracingEnabled(config)) return OFF;
  const sampledAtEdge = edge ? edgeSampler(config) : null;
  // Loaded only when on: the SDK and its instrumentations cost start-up time and patch modules.
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { getSpanProcessorsFromEnv } = require('@opentelemetry/sdk-node/build/src/utils') as {
    getSpanProcessorsFromEnv(): SpanProcessor[];
  };
  const { Resource: R, envDetectorSync } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');

  // Ours, then what OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say (they win).
  const resource = R.default()
    .merge(new R({ 'service.name': serviceName }))
    .merge(envDetectorSync.detect());
  const processors = getSpanProcessorsFromEnv();
  const processor = fanOut(processors);
  const { ParentBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    spanProcessors: processors,
    // Sampled at the edge: what gets past it is traced whole (else the SDK would sample the sampled again).
    ...(sampledAtEdge ? { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) } : {}),
    instrumentations: [
      new HttpInstrumentation({
        // At the edge the server span is ours (`serve`): the instrumentation's incoming side binds every request's
        // and response's listeners to a context even when it ignores the request, which cost unsampled GETs ~25 %.
        disableIncomingRequestInstrumentation: edge,
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? ''),
        // A webhook URL's query may hold the integrator's token: outgoing URLs are recorded without it.
        requestHook: (span, request) => {
          if ('getHeader' in request && 'path' in request && typeof request.path === 'string' && request.path.includes('?')) {
            const path = request.path.slice(0, request.path.indexOf('?'));
            span.setAttributes({ 'http.url': `${request.protocol}//${request.getHeader('host')}${path}`, 'http.target': path });
          }
        },
      }),
      // Statement text is kept (parameters never are: they carry customers' data). Only inside traced work: the
      // pollers' statements (webhook dispatcher, breaker sweeper, SLA outbox relay) would each be a trace of their own.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }),
      // The command only: arguments carry session ids, token digests and tenants' data.
      new IORedisInstrumentation({ dbStatementSerializer: (command) => command, requireParentSpan: true }),
    ],
  });
  sdk.start();
  requestContext.carryInTracingContext();
  const serve = edge ? (listener: RequestListener) => serveTraced(listener, sampledAtEdge) : undefined;
  return { enabled: true, processor, resource, serve, shutdown: () => sdk.shutdown().catch(() => {}) };
}

/** Probes and metrics scrapes are not requests anyone traces. */
const UNTRACED_PATHS = /^\/(healthz|readyz|metrics)\b/;

/**
 * The edge's server span (old HTTP semantic conventions, as the HTTP instrumentation writes them). The path is kept
 * without its query (cursors and filters are tenants' data), the route template once Express has matched one.
 */
function serveTraced(listener: RequestListener, sampledAtEdge: ((traceparent?: string) => boolean) | null): RequestListener {
  const tracer = trace.getTracer('deskflow-http');
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const traceparent = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined;
    if (UNTRACED_PATHS.test(url) || (sampledAtEdge !== null && !sampledAtEdge(traceparent))) return listener(req, res);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method ?? 'GET';
    const target = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.method': method,
          'http.target': target,
          'http.scheme': 'http',
          'http.flavor': req.httpVersion,
          ...(req.headers['user-agent'] ? { 'http.user_agent': req.headers['user-agent'] } : {}),
        },
      },
      parent,
    );
    const end = (aborted: boolean) => {
      const route = (req as IncomingMessage & { route?: { path?: unknown } }).route?.path;
      if (typeof route === 'string') {
        span.setAttribute('http.route', route);
        span.updateName(`${method} ${route}`);
      }
      span.setAttribute('http.status_code', res.statusCode);
      if (aborted) span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away before the answer' });
      else if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    // A response emits 'close' once: after 'finish', or when the client went away before the answer was written.
    res.on('close', () => end(!res.writableFinished));
    context.with(trace.setSpan(parent, span), () => listener(req, res));
  };
}

/** One processor for the workflow-span sink over every configured one. */
function fanOut(processors: SpanProcessor[]): SpanProcessor {
  return {
    onStart: (span, ctx) => {
      for (const p of processors) p.onStart(span, ctx);
    },
    onEnd: (span) => {
      for (const p of processors) p.onEnd(span);
    },
    forceFlush: async () => {
      await Promise.all(processors.map((p) => p.forceFlush()));
    },
    shutdown: async () => {
      await Promise.all(processors.map((p) => p.shutdown()));
    },
  };
}

/**
 * Runs `fn` (a Temporal client call) under an unsampled parent when nothing is traced here (an unsampled request, or
 * work outside any request): the workflow's spans then follow "not sampled" instead of starting traces of their own
 * (the workflow sandbox samples a root span always).
 */
export function unsampledUnlessTraced<T>(fn: () => T): T {
  if (trace.getActiveSpan()) return fn();
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.NONE,
    isRemote: true,
  });
  return context.with(parent, fn);
}

/** The active span's W3C `traceparent` (sampled or not), for work picked up later from a table; null when none. */
export function currentTraceParent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

const tracer = () => trace.getTracer('deskflow');

/**
 * Runs `fn` in a span whose parent is the stored `traceParent` (when there is one), so work done later by a
 * poller (a webhook's first attempt) joins the trace of the change that caused it.
 */
export function inSpanOf<T>(traceParent: string | null, name: string, attributes: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const parent = traceParent ? propagation.extract(ROOT_CONTEXT, { traceparent: traceParent }) : ROOT_CONTEXT;
  return tracer().startActiveSpan(name, { attributes }, parent, async (span: Span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's ids for a log line (none when tracing is off or nothing is traced). */
export function traceFields(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  // Unsampled too: the ids still tie one request's lines together, and its neighbours' spans may be exported.
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
