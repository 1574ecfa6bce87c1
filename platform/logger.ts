import pino from 'pino';
import type { Config } from './config';

/** Structured JSON logs; credentials are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string) {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.secret'],
      censor: '[redacted]',
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;
