import pino from 'pino';
import type { Config } from './config';

/** Structured JSON logs; credentials are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string) {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: {
      // Credentials, tokens and customer PII never reach the logs.
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-deskflow-signature"]',
        '*.password',
        '*.password_hash',
        '*.token',
        '*.access_token',
        '*.refresh_token',
        '*.secret',
        '*.inbound_secret',
        '*.email',
        '*.phone',
        '*.body',
        '*.text',
        'err.config',
        'err.response',
      ],
      censor: '[redacted]',
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;
