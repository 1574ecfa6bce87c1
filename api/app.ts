/** The Express 5 application: middleware, routes under /api/v1, health, problems. No listening here. */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { customerStore } from './customer-store';
import { idempotency } from './idempotency';
import { devIdentity } from './identity';
import { notFoundHandler, problemHandler } from './problem';
import { customerRoutes } from './routes/customers';
import { healthRoutes } from './routes/health';
import { ticketRoutes } from './routes/tickets';
import { ticketStore } from './ticket-store';
import { ticketWorkflows } from './ticket-workflows';

export interface AppDeps {
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  temporal: Client;
  log: Logger;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function createApp({ config, pool, redis, temporal, log }: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are ticket/customer versions, set explicitly

  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    if (log.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.info({ requestId: req.requestId, method: req.method, path: req.path, status: res.statusCode, ms }, 'request');
      });
    }
    next();
  });
  app.use(express.json({ limit: config.BODY_LIMIT, strict: true, type: ['application/json', 'application/*+json'] }));

  app.use(healthRoutes({ pool, redis, temporal }));

  const tickets = ticketStore(pool);
  const customers = customerStore(pool);
  const workflows = ticketWorkflows(
    temporal,
    config.TEMPORAL_TASK_QUEUE,
    { autoCloseAfterMs: config.TICKET_AUTO_CLOSE_AFTER, historyEventLimit: config.TICKET_HISTORY_EVENT_LIMIT },
    async (who, ticketId) => {
      // The workflow is gone: the ticket closed (its workflow completed) or never existed for this tenant.
      const ticket = await tickets.get(who.tenantId, ticketId);
      if (ticket?.status === 'closed') throw new DeskflowError('ticket_closed', `ticket ${ticketId} is closed`);
      throw new DeskflowError('not_found', 'ticket not found');
    },
  );
  const idempotent = idempotency(redis, config.IDEMPOTENCY_TTL);

  const v1 = express.Router();
  v1.use(devIdentity(pool, config.DEV_IDENTITY));
  v1.use('/customers', customerRoutes(customers, idempotent));
  v1.use('/tickets', ticketRoutes({ tickets, customers, workflows, idempotent }));
  app.use('/api/v1', v1);

  app.use(notFoundHandler);
  app.use(problemHandler(log));
  return app;
}
