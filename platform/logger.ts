import pino from 'pino';
import type { Config } from './config';
import { redactText, redactValue } from './log-redaction';
import { requestContext } from './request-context';
import { traceFields } from './tracing';

/**
 * Structured JSON logs. Each line inside a request carries its request id, tenant and actor, and inside a traced
 * span its trace and span ids (platform/tracing.ts); credentials and
 * personal data are censored wherever they appear (platform/log-redaction.ts).
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string, destination?: pino.DestinationStream) {
  return pino(
    {
      name,
      level: config.LOG_LEVEL,
      mixin() {
        const c = requestContext.current();
        const ids = traceFields();
        return c ? { requestId: c.requestId, tenantId: c.tenantId, actor: c.actor, ...ids } : (ids ?? {});
      },
      // After serializers (err): the whole line's object, censored by field name and by shape.
      formatters: { log: (object) => redactValue(object) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          // The message text (and printf-style arguments) are censored by shape too.
          method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
export type Logger = ReturnType<typeof createLogger>;
