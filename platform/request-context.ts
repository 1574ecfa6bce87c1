/**
 * What every log line of a request carries (request id, tenant, actor), kept for the request's whole async
 * path by AsyncLocalStorage: code deep in a store logs with the plain logger and still says whose request it was.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context as tracingContext, createContextKey } from '@opentelemetry/api';

export interface RequestContext {
  requestId: string;
  tenantId?: string;
  /** `type:id` of the caller once authenticated (agent:<uuid>, api_key:<uuid>, …). */
  actor?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();
const KEY = createContextKey('deskflow.request-context');
/**
 * With tracing on, the request context rides in OpenTelemetry's context (itself an AsyncLocalStorage): a second
 * storage would make every promise and callback of the process carry two (bench/RESULTS.md, #13's tracing cost).
 */
let inTracingContext = false;

export const requestContext = {
  /** Runs `fn` (and everything it starts) inside `context`. */
  run<T>(context: RequestContext, fn: () => T): T {
    return inTracingContext ? tracingContext.with(tracingContext.active().setValue(KEY, context), fn) : storage.run(context, fn);
  },
  current(): RequestContext | undefined {
    return inTracingContext ? (tracingContext.active().getValue(KEY) as RequestContext | undefined) : storage.getStore();
  },
  /** Called by platform/tracing.ts once its context manager is registered, before any request runs. */
  carryInTracingContext(): void {
    inTracingContext = true;
  },
  /** Records who is calling, once the credential is known. */
  identify(tenantId: string, actor: { type: string; id: string | null }): void {
    const context = requestContext.current();
    if (context) {
      context.tenantId = tenantId;
      context.actor = actor.id === null ? actor.type : `${actor.type}:${actor.id}`;
    }
  },
};
