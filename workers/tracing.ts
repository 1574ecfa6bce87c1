/**
 * The worker's tracing: imported first by workers/main.ts, so it is set up before what it instruments is loaded.
 * On, workflows and activities join the trace their start, update or signal carried in its headers (Temporal's
 * OpenTelemetry interceptors): workflow spans are made in the sandbox and leave it through a sink.
 */
import type { WorkerOptions } from '@temporalio/worker';
import { startTracing } from '../platform/tracing';

export const tracing = startTracing('deskflow-worker');

/** The workflow bundle's interceptor modules (none when off: the bundle is then what it always was). */
export const workflowInterceptorModules: string[] = tracing.enabled
  ? [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')]
  : [];

/** Interceptors and the span sink for Worker.create (nothing when off). */
export function tracedWorkerOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!tracing.enabled) return {};
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  return {
    interceptors: {
      workflowModules: workflowInterceptorModules,
      activity: [
        (ctx) => ({
          inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: otel.makeWorkflowExporter(tracing.processor!, tracing.resource!) },
  };
}
