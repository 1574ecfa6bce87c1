/** The Express 5 application: hardening middleware, the declared routes, problems. No listening here. */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import cors from 'cors';
import express from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import type { Config } from '../platform/config';
import { createFieldCrypto } from '../platform/field-crypto';
import { createObjectStorage, type ObjectStorage } from '../platform/object-storage';
import { looksSigned } from '../platform/signing';
import { tracingEnabled } from '../platform/tracing';
import type { Logger } from '../platform/logger';
import { type RequestContext, requestContext } from '../platform/request-context';
import { apiKeyStore } from '../stores/api-keys';
import { attachmentStore } from '../stores/attachments';
import { auditStore } from '../stores/audit';
import { authenticate, requireScope } from './auth/authenticate';
import { mountConsole } from './console';
import { sessionStore } from './auth/sessions';
import { SigningKeyRing } from './auth/signing-keys';
import { accessTokens } from './auth/tokens';
import { customerStore } from '../stores/customers';
import { groupStore } from '../stores/groups';
import { headersSetBy, setFixedHeaders } from './http/fixed-headers';
import { credentialRateLimit, rateLimiters } from './http/rate-limit';
import { mountRoutes, type RouteMiddleware, type RouteSpec } from './http/route';
import { idempotency } from './idempotency';
import type { ApiMetrics } from './metrics';
import { notFoundHandler, problemHandler } from './problem';
import { apiKeyRoutes } from './routes/api-keys';
import { archiveRoutes } from './routes/archive';
import { attachmentRoutes } from './routes/attachments';
import { auditRoutes } from './routes/audit';
import { authRoutes } from './routes/auth';
import { customerRoutes } from './routes/customers';
import { customerErasureStore } from '../stores/customer-erasure';
import { eventRoutes } from './routes/events';
import { groupRoutes } from './routes/groups';
import { mountDocs } from './routes/docs';
import { healthRoutes } from './routes/health';
import { SIGNATURE_HEADER as INBOUND_SIGNATURE_HEADER, inboundRoutes } from './routes/inbound';
import { presenceRoutes } from './routes/presence';
import { slaRoutes } from './routes/sla';
import { tenantRoutes } from './routes/tenant';
import { ticketRoutes } from './routes/tickets';
import { userRoutes } from './routes/users';
import { webhookEndpointRoutes } from './routes/webhook-endpoints';
import { webhookDeliveryRoutes } from './routes/webhook-deliveries';
import { webhookRedriveRoutes } from './routes/webhook-redrives';
import { webhookRedriveStore } from '../stores/webhook-redrives';
import { webhookTestRoutes } from './routes/webhook-test';
import { webhookTestSendStore } from '../stores/webhook-test-sends';
import { webhookDeliveryStore } from '../stores/webhook-deliveries';
import { tenantStore } from '../stores/tenants';
import { ticketStore } from '../stores/tickets';
import { ticketArchiveStore } from '../stores/ticket-archives';
import { legalHoldStore } from '../stores/legal-holds';
import { slaStore } from '../stores/sla';
import { presenceStore } from '../stores/presence';
import { ticketWorkflows } from './ticket-workflows';
import { warmUpApi } from './warm-up';
import { userStore } from '../stores/users';
import { webhookEventStore } from '../stores/webhook-events';
import { webhookEndpointStore } from '../stores/webhook-endpoints';

export interface AppDeps {
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  temporal: Client;
  log: Logger;
  /** Request metrics (api/metrics.ts); absent in processes that serve none. */
  metrics?: Pick<ApiMetrics, 'http'>;
  /** True once the process is shutting down: /readyz then fails so load balancers stop sending. */
  isDraining?: () => boolean;
  /** Where attachments are kept; unset: the store OBJECT_STORAGE names. */
  storage?: ObjectStorage;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Every route of the API, declared once (also the source of the OpenAPI document). */
export function buildRoutes({ config, pool, redis, temporal, log, isDraining, storage = createObjectStorage(config) }: AppDeps) {
  const crypto = createFieldCrypto(config);
  const keys = new SigningKeyRing(pool, crypto, config.SIGNING_KEY_ROTATION);
  const tokens = accessTokens(keys, { issuer: config.JWT_ISSUER, ttlMs: config.ACCESS_TOKEN_TTL });
  const sessions = sessionStore(redis, { refreshMs: config.REFRESH_TOKEN_TTL, sessionMs: config.SESSION_TTL });
  const limiters = rateLimiters(redis);
  const tickets = ticketStore(pool);
  const attachments = attachmentStore(pool);
  const archives = ticketArchiveStore(pool);
  const customers = customerStore(pool, crypto);
  const tenants = tenantStore(pool, crypto);
  const users = userStore(pool, { publishEpoch: sessions.publishEpoch });
  const apiKeys = apiKeyStore(pool);
  const audit = auditStore(pool);
  const presence = presenceStore(redis, { ttlMs: config.LIVE_PRESENCE_TTL, typingTtlMs: config.LIVE_TYPING_TTL });
  const workflows = ticketWorkflows(
    temporal,
    config.TEMPORAL_TASK_QUEUE,
    { autoCloseAfterMs: config.TICKET_AUTO_CLOSE_AFTER, historyEventLimit: config.TICKET_HISTORY_EVENT_LIMIT },
    async (who, ticketId) => {
      // The workflow is gone: the ticket closed (its workflow completed; it may be archived since) or never existed for this tenant.
      const ticket = await tickets.get(who.tenantId, ticketId);
      if (ticket?.status === 'closed') throw new DeskflowError('ticket_closed', `ticket ${ticketId} is closed`);
      if (!ticket && (await archives.get(who.tenantId, ticketId))?.state === 'archived')
        throw new DeskflowError('ticket_closed', `ticket ${ticketId} is closed and archived`);
      throw new DeskflowError('not_found', 'ticket not found');
    },
    config.TICKET_WRITE_TIMEOUT,
  );

  const routes: RouteSpec[] = [
    ...healthRoutes({ pool, redis, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, warmUp: warmUpApi({ pool, temporal }), isDraining }),
    ...authRoutes({ users, audit, config, keys, tokens, sessions, limiters }),
    ...customerRoutes(customers, customerErasureStore(pool, crypto, storage)),
    ...ticketRoutes({
      tickets,
      workflows,
      archives,
      atRiskWindowMs: config.SLA_AT_RISK_WINDOW,
      upload: {
        attachments,
        storage,
        rules: { maxBytes: config.ATTACHMENT_MAX_BYTES, maxFiles: config.ATTACHMENT_MAX_FILES, allowedTypes: new Set(config.ATTACHMENT_ALLOWED_TYPES) },
      },
    }),
    ...attachmentRoutes({ attachments, storage, urlTtlMs: config.ATTACHMENT_URL_TTL }),
    ...archiveRoutes({
      tickets,
      archives,
      holds: legalHoldStore(pool),
      storage,
      temporal,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      restoreTimeoutMs: config.TICKET_WRITE_TIMEOUT,
      log,
    }),
    ...presenceRoutes({ tickets, presence }),
    ...userRoutes(users),
    ...groupRoutes(groupStore(pool)),
    ...apiKeyRoutes(apiKeys),
    ...tenantRoutes(tenants),
    ...auditRoutes(audit),
    ...slaRoutes({ sla: slaStore(pool), temporal, taskQueue: config.TEMPORAL_TASK_QUEUE }),
    ...inboundRoutes({ config, limiters, tenants, customers, tickets, workflows, storage, attachments }),
    ...eventRoutes(webhookEventStore(pool)),
    ...webhookEndpointRoutes(webhookEndpointStore(pool, crypto, config)),
    ...webhookDeliveryRoutes(webhookDeliveryStore(pool)),
    ...webhookRedriveRoutes({
      redrives: webhookRedriveStore(pool),
      temporal,
      settings: {
        taskQueue: config.TEMPORAL_WEBHOOK_TASK_QUEUE,
        perSecond: config.WEBHOOK_REDRIVE_PER_SECOND,
        batchSize: config.WEBHOOK_REDRIVE_BATCH,
        batchesPerRun: config.WEBHOOK_REDRIVE_BATCHES_PER_RUN,
      },
    }),
    ...webhookTestRoutes({ sends: webhookTestSendStore(pool), deliveries: webhookDeliveryStore(pool), limiters }),
  ];
  const limit = credentialRateLimit(limiters, (tenantId) => tenants.rateLimit(tenantId), config.RATE_LIMIT_PER_MIN);
  const middleware = {
    authenticate: authenticate({
      apiKeys,
      tokens,
      sessions,
      limit,
      apiKeyFailures: limiters.failures({
        name: 'api-key-failures-ip',
        points: config.API_KEY_FAILURES_PER_IP,
        windowSec: Math.ceil(config.LOGIN_WINDOW / 1000),
      }),
    }),
    requireScope,
    idempotency: idempotency(redis, config.IDEMPOTENCY_TTL, crypto),
  };
  return { routes, middleware, keys, presence };
}

/**
 * `overrides` swaps route middleware (e.g. the benchmark's unauthenticated baseline replaces
 * `authenticate`, which includes the rate limit, to measure what they cost); production passes none.
 */
export function createApp(deps: AppDeps, overrides: Partial<RouteMiddleware> = {}): express.Express {
  const { config, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are object versions, set explicitly
  app.set('trust proxy', config.TRUST_PROXY);
  if (deps.metrics) app.use(deps.metrics.http);

  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    const context: RequestContext = { requestId: req.requestId };
    if (log.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        // 'finish' fires outside the request's async context: the line names it from the context object itself.
        const { requestId, tenantId, actor } = context;
        log.info({ requestId, tenantId, actor, method: req.method, path: req.path, status: res.statusCode, ms }, 'request');
      });
    }
    // Everything the request runs, however deep, logs with its request id (and tenant and actor once known).
    requestContext.run(context, next);
  });
  const origins = config.CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const corsHeaders = cors({
    origin: origins,
    credentials: false,
    exposedHeaders: ['ETag', 'Location', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Request-Id'],
  });
  // helmet's headers, and what cors sets on an answer to a request without Origin, are the same every time: recorded
  // once (api/http/fixed-headers.ts). A cross-origin request or a preflight goes through cors itself.
  const plainRequest = { method: 'GET', headers: {} };
  const security = headersSetBy(helmet(), plainRequest);
  const sameOrigin = headersSetBy(corsHeaders, plainRequest);
  app.use((req, res, next) => {
    setFixedHeaders(res, security);
    if (req.headers.origin !== undefined || req.method === 'OPTIONS') return corsHeaders(req, res, next);
    setFixedHeaders(res, sameOrigin);
    next();
  });
  const jsonTypes = ['application/json', 'application/*+json'];
  const json = express.json({ limit: config.BODY_LIMIT, strict: true, type: jsonTypes });
  // Inbound email: larger (attachments ride in it, base64), and kept raw, since its signature covers the exact bytes.
  // Read only for a request whose signature header is well formed and current; any other is refused (401) unread.
  const inboundJson = express.json({
    limit: config.INBOUND_BODY_LIMIT,
    strict: true,
    type: jsonTypes,
    verify: (req, _res, buf) => {
      (req as express.Request & { rawBody?: Buffer }).rawBody = buf;
    },
  });
  app.use((req, res, next) => {
    // No route reads the body of a GET or HEAD: the reads (most of the traffic) skip the parser.
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    if (!req.url.startsWith('/api/v1/inbound/')) return json(req, res, next);
    const signature = req.headers[INBOUND_SIGNATURE_HEADER];
    return looksSigned(typeof signature === 'string' ? signature : undefined) ? inboundJson(req, res, next) : next();
  });

  const { routes, middleware } = buildRoutes(deps);
  mountRoutes(app, routes, { ...middleware, ...overrides }, { traced: tracingEnabled(config) });
  mountDocs(app, routes);
  mountConsole(app);

  app.use(notFoundHandler);
  app.use(problemHandler(log));
  return app;
}
