/**
 * Trace context through the workflows (issue #13), bundled only when tracing is on (workers/tracing.ts).
 *
 * Why not `@temporalio/interceptors-opentelemetry`'s workflow module: it keeps an AsyncLocalStorage per workflow run,
 * and with the reused V8 context every cached ticket's storage stays enabled, so each promise the worker creates walks
 * all of them: creates slowed ~3× within a minute of load at 10 % sampling (bench/RESULTS.md). This module carries
 * the caller's context (the `_tracer-data` header Temporal's client and activity interceptors read and write) from
 * an update, signal or start to the activities and child work it schedules, and reports a span for each sampled
 * update and signal through a sink (made on the worker's main thread, never during replay). No OpenTelemetry code
 * runs in the sandbox and nothing here issues a command or draws on the workflow's randomness: replays are unchanged
 * whether tracing is on or off.
 */
import {
  defaultPayloadConverter,
  type Headers,
  type Next,
  proxySinks,
  type Sinks,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
  workflowInfo,
} from '@temporalio/workflow';

/** The header Temporal's OpenTelemetry interceptors use (client, activities): a payload of `{ traceparent, tracestate }`. */
export const TRACE_HEADER = '_tracer-data';

export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** A finished workflow-side span, made into an OpenTelemetry span by the worker's sink. Times: workflow clock, ms. */
export interface WorkflowSpanRecord {
  name: string;
  parent: TraceCarrier;
  startMs: number;
  endMs: number;
  attributes: Record<string, string>;
  error?: string;
}

export interface WorkflowTracingSinks extends Sinks {
  tracing: { span(record: WorkflowSpanRecord): void };
}

const { tracing } = proxySinks<WorkflowTracingSinks>();

const sampled = (carrier: TraceCarrier | undefined) => {
  const flags = carrier?.traceparent?.split('-')[3];
  return flags !== undefined && (Number.parseInt(flags, 16) & 1) === 1;
};

function carrierOf(headers: Headers): TraceCarrier | undefined {
  const payload = headers[TRACE_HEADER];
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<TraceCarrier>(payload);
  } catch {
    return undefined; // a header we cannot read is no reason to fail a workflow task
  }
}

/**
 * One run's interceptors. The state lives in this closure, not in module variables: with the worker's reused V8
 * context the bundle's modules are evaluated once and shared by every cached run, while this factory runs per run.
 */
export const interceptors: WorkflowInterceptorsFactory = () => {
  let runHeader: Headers[string] | undefined;
  let currentHeader: Headers[string] | undefined;

  /** Runs an update or signal handler with its caller's context current, and reports its span when sampled. */
  async function inCallerContext<T>(name: string, headers: Headers, attributes: Record<string, string>, run: () => Promise<T>): Promise<T> {
    const header = headers[TRACE_HEADER];
    if (!header) return run();
    currentHeader = header;
    const carrier = carrierOf(headers);
    const startMs = Date.now();
    const report = (error?: string) => {
      if (currentHeader === header) currentHeader = runHeader;
      if (!carrier || !sampled(carrier)) return;
      const { workflowId, runId } = workflowInfo();
      tracing.span({
        name,
        parent: carrier,
        startMs,
        endMs: Date.now(),
        attributes: { temporalWorkflowId: workflowId, run_id: runId, ...attributes },
        ...(error === undefined ? {} : { error }),
      });
    };
    try {
      const result = await run();
      report();
      return result;
    } catch (err) {
      report(err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  const withContext = <I extends { readonly headers: Headers }>(input: I): I =>
    currentHeader ? { ...input, headers: { ...input.headers, [TRACE_HEADER]: currentHeader } } : input;

  const inbound: WorkflowInboundCallsInterceptor = {
    execute(input, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
      runHeader = input.headers[TRACE_HEADER];
      currentHeader = runHeader;
      return next(input);
    },
    handleUpdate(input, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) {
      return inCallerContext(`HandleUpdate:${input.name}`, input.headers, { temporalUpdateId: input.updateId }, () => next(input));
    },
    handleSignal(input, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>) {
      return inCallerContext(`HandleSignal:${input.signalName}`, input.headers, {}, () => next(input));
    },
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => next(withContext(input)),
    scheduleLocalActivity: (input, next) => next(withContext(input)),
    startChildWorkflowExecution: (input, next) => next(withContext(input)),
    signalWorkflow: (input, next) => next(withContext(input)),
    continueAsNew: (input, next) => next(withContext(input)),
  };

  return { inbound: [inbound], outbound: [outbound] };
};
