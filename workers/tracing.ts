/**
 * The worker's tracing: imported first by workers/main.ts, so it is set up before what it instruments is loaded.
 * On, activities join the trace their workflow carried to them (Temporal's OpenTelemetry activity interceptors, on the
 * main thread), and the workflows carry their callers' context to what they schedule and report a span per sampled
 * update or signal (workflows/tracing.interceptors.ts: no OpenTelemetry code in the sandbox), made here by a sink.
 */
import { propagation, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { startTracing } from '../platform/tracing';
import type { WorkflowTracingSinks } from '../workflows/tracing.interceptors';

export const tracing = startTracing('deskflow-worker');

/** Interceptors and the span sink for Worker.create (nothing when off). */
export function tracedWorkerOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!tracing.enabled) return {};
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  const tracer = trace.getTracer('deskflow-workflows');
  const sinks: InjectedSinks<WorkflowTracingSinks> = {
    tracing: {
      span: {
        fn: (_info, record) => {
          const parent = propagation.extract(ROOT_CONTEXT, record.parent);
          const span = tracer.startSpan(record.name, { startTime: record.startMs, attributes: record.attributes }, parent);
          if (record.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: record.error });
          span.end(record.endMs);
        },
        callDuringReplay: false, // a replayed handler was reported when it first ran
      },
    },
  };
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks,
  };
}
