/**
 * What every log line of a request carries (request id, tenant, actor), kept for the request's whole async
 * path by AsyncLocalStorage: code deep in a store logs with the plain logger and still says whose request it was.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  requestId: string;
  tenantId?: string;
  /** `type:id` of the caller once authenticated (agent:<uuid>, api_key:<uuid>, …). */
  actor?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const requestContext = {
  /** Runs `fn` (and everything it starts) inside `context`. */
  run<T>(context: RequestContext, fn: () => T): T {
    return storage.run(context, fn);
  },
  current(): RequestContext | undefined {
    return storage.getStore();
  },
  /** Records who is calling, once the credential is known. */
  identify(tenantId: string, actor: { type: string; id: string | null }): void {
    const context = storage.getStore();
    if (context) {
      context.tenantId = tenantId;
      context.actor = actor.id === null ? actor.type : `${actor.type}:${actor.id}`;
    }
  },
};
