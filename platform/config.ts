/**
 * The one configuration schema. Every environment variable Deskflow reads is declared here,
 * with its default; the README's configuration table mirrors this file.
 */
import { msToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { DEFAULT_ALLOWED_TYPES, MAX_ATTACHMENTS_PER_MESSAGE, NEVER_ALLOWED_TYPES } from '../domain/attachment';
import { splitAddress } from './free-address';
import { normalizeKeyPrefix } from './object-storage/keys';
import { StorageClass } from './object-storage/types';

const Duration = z.string().transform((value, ctx) => {
  try {
    return msToNumber(value as Parameters<typeof msToNumber>[0]);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${value} (try "4 days", "30s", "500ms")` });
    return z.NEVER;
  }
});

// Development-only keys: refused when NODE_ENV=production.
const DEV_FIELD_KEYS = 'dev1:ZGVza2Zsb3ctZGV2LWZpZWxkLWtleS0zMi1ieXRlcyE=';
const DEV_BLIND_INDEX_KEY = 'ZGVza2Zsb3ctZGV2LWJsaW5kLWluZGV4LWtleS0zMiE=';

const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().default('0.0.0.0'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    BODY_LIMIT: z.string().default('100kb'),

    /** The application's least-privilege role (no DDL, no DELETE, row-level security applies). */
    DATABASE_URL: z.string().default('postgres://deskflow_app@127.0.0.1:5432/deskflow'),
    /** The owner role: migrations, database creation and the admin CLI only. */
    DATABASE_ADMIN_URL: z.string().default('postgres://postgres@127.0.0.1:5432/deskflow'),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).default(20),
    /**
     * Connections each process keeps open however idle (opened by the warm-up at start; capped at DATABASE_POOL_MAX):
     * a request after a quiet spell finds a warm backend (its prepared statements and catalog caches) instead of a
     * new connection.
     */
    DATABASE_POOL_MIN: z.coerce.number().int().min(0).default(4),
    /** How long a connection above DATABASE_POOL_MIN may sit idle before the pool closes it. */
    DATABASE_POOL_IDLE_TIMEOUT: Duration.default(10_000),

    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    REDIS_KEY_PREFIX: z.string().default('deskflow:'),

    /** Unset under `npm start` means: start the embedded Temporal dev server. */
    TEMPORAL_ADDRESS: z.string().optional(),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_TASK_QUEUE: z.string().default('deskflow-tickets'),
    TEMPORAL_CLI_PATH: z.string().optional(),
    TEMPORAL_DEV_PORT: z.coerce.number().int().default(7233),
    TEMPORAL_UI_PORT: z.coerce.number().int().default(8233),
    DATA_DIR: z.string().default('.data'),
    /** Where `admin backup` / `restore` find pg_dump and pg_restore (of the server's major version or newer); empty: PATH. */
    PG_BIN_DIR: z.string().default(''),
    /** How long `admin backup` waits for a table lock (a migration holds one) before it fails rather than queue forever. */
    BACKUP_LOCK_WAIT: Duration.default(60_000),

    /**
     * Object storage (attachments, archives; platform/object-storage). `local` keeps files in a directory, so `npm start`
     * needs nothing more; `s3` is the S3 API: AWS, or MinIO and other S3-compatible stores through S3_ENDPOINT.
     */
    OBJECT_STORAGE: z.enum(['local', 's3']).default('local'),
    /** The local backend's root; unset: `<DATA_DIR>/objects`. Relative paths resolve from the checkout, like DATA_DIR. */
    OBJECT_STORAGE_DIR: z.string().min(1).optional(),
    /** Required with `s3`: there is no bucket to guess. */
    S3_BUCKET: z.string().default(''),
    S3_REGION: z.string().min(1).default('us-east-1'),
    /** An S3-compatible store's URL (e.g. MinIO's); unset: AWS's own endpoint for S3_REGION. */
    S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    /** `<endpoint>/<bucket>/<key>` URLs instead of bucket host names: what most S3-compatible stores need. */
    S3_FORCE_PATH_STYLE: Bool.default(false),
    /** Static credentials, both or neither (never logged); neither: the SDK's default chain (environment, web identity, instance role). */
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    /** Every key is stored under this folder, so deployments can share a bucket. */
    S3_KEY_PREFIX: z.string().default(''),
    /** Storage class of archive exports: colder than attachments, yet readable without a restore (archives are read back). */
    ARCHIVE_STORAGE_CLASS: StorageClass.default('STANDARD'),
    /** Closed tickets older than this many days are archived (a tenant may set its own: PATCH /api/v1/tenant). */
    ARCHIVE_AFTER_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
    /** When the archival schedule runs (Temporal cron, UTC): daily at 02:00 by default. */
    ARCHIVE_CRON: z
      .string()
      .trim()
      .default('0 2 * * *')
      .refine((cron) => /^@(yearly|annually|monthly|weekly|daily|hourly|every\s+\S+)$/.test(cron) || cron.split(/\s+/).length === 5, {
        message: 'a cron expression of five fields ("0 2 * * *") or @daily, @hourly, @every 12h, …',
      }),
    /** Tickets one archival activity exports before the run looks for the next batch. */
    ARCHIVE_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
    /**
     * At most this many tickets archived per second by each archival activity (0: unpaced). Archival is background work
     * on the worker, which also runs the tickets: 5/s is 432,000 a day, far above any tenant's daily closings, and keeps
     * a backlog's run to a small share of a small machine (bench/RESULTS.md, archival).
     */
    ARCHIVE_TICKETS_PER_SECOND: z.coerce.number().min(0).max(10_000).default(5),

    /** The largest attachment (bytes, each file); a larger one is refused with 413 and nothing of it is kept. */
    ATTACHMENT_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .max(5 * 1024 ** 3)
      .default(25 * 1024 * 1024),
    /** Files in one message. */
    ATTACHMENT_MAX_FILES: z.coerce.number().int().min(1).max(MAX_ATTACHMENTS_PER_MESSAGE).default(10),
    /**
     * Comma-separated MIME types an attachment may have, checked against the type sniffed from its bytes (text/plain and
     * text/csv: the declared type, when the bytes are UTF-8 without NUL). HTML, SVG, XML and executables are never allowed.
     */
    ATTACHMENT_ALLOWED_TYPES: z
      .string()
      .default(DEFAULT_ALLOWED_TYPES.join(','))
      .transform((list) => [
        ...new Set(
          list
            .split(',')
            .map((t) => t.trim().toLowerCase())
            .filter(Boolean),
        ),
      ]),
    /** Lifetime of the pre-signed URL a download on S3 redirects to (it cannot be revoked once handed out: keep it short). */
    ATTACHMENT_URL_TTL: Duration.default(5 * 60 * 1000),

    TICKET_AUTO_CLOSE_AFTER: Duration.default(4 * 24 * 60 * 60 * 1000),
    TICKET_HISTORY_EVENT_LIMIT: z.coerce.number().int().min(20).default(2000),
    IDEMPOTENCY_TTL: Duration.default(24 * 60 * 60 * 1000),
    /** How often the data retention schedule sweeps idempotency records and sessions past their limits (Redis expires them on time; this is the backstop). */
    DATA_RETENTION_INTERVAL: Duration.default(60 * 60 * 1000),
    /** The longest a ticket write waits for its workflow to confirm it; then 503 (it may still apply: retry with the same Idempotency-Key). */
    TICKET_WRITE_TIMEOUT: Duration.default(30_000),

    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).default(40),
    WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).default(40),
    /**
     * How long a task for a cached workflow waits for this worker before the server hands it to any worker (which must
     * then replay its history). Longer rides out load peaks without replay storms; shorter fails over faster after a crash.
     */
    WORKER_STICKY_QUEUE_TIMEOUT: Duration.default(10_000),
    /**
     * Threads running workflow code (the SDK's workflowThreadPoolSize; its default with a reused V8 context is 1). One thread
     * is one core's worth of workflow tasks: the 10,000-ticket SLA run saturates it (bench/RESULTS.md); more cores, more threads.
     */
    WORKER_WORKFLOW_THREADS: z.coerce.number().int().min(1).max(64).default(1),
    /**
     * Ticket Workers in one worker process, each with its share of the sticky cache and of the task slots. The SDK's
     * core scans every cached workflow of a Worker on each of its inputs (bench/RESULTS.md, 2026-12-04), so a
     * 10,000-ticket cache in one Worker costs ~14 ms of one thread per task; shards cut that and run in parallel.
     * Unset: one per 2,500 of the sticky cache, at most eight (workers/workflow-bundle.ts).
     */
    WORKER_TICKET_SHARDS: z.coerce.number().int().min(1).max(16).optional(),
    /** Sticky cache size (the process's, split over WORKER_TICKET_SHARDS); unset: sized from the worker's heap limit (workers/workflow-bundle.ts). */
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
    /** host:port of the worker's Prometheus /metrics (SDK metrics and SLA timer lateness); empty disables. */
    WORKER_METRICS_ADDRESS: z.string().default('127.0.0.1:9464'),
    /**
     * host:port of the API's Prometheus /metrics (its own listener, never the public port; the next free port when taken);
     * empty disables. Off loopback in production it needs METRICS_TOKEN.
     */
    API_METRICS_ADDRESS: z.string().default('127.0.0.1:9465'),
    /** When set, a scrape of the API's /metrics must send `Authorization: Bearer <this>`. */
    METRICS_TOKEN: z.union([z.literal(''), z.string().min(16, 'at least 16 characters')]).default(''),
    /**
     * Tracing (platform/tracing.ts): the standard OpenTelemetry variables, read by its SDK as it documents them; declared
     * here so they are one table. Off unless an exporter is named or an OTLP endpoint is set.
     */
    OTEL_SDK_DISABLED: z.string().optional(),
    OTEL_TRACES_EXPORTER: z.string().optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.string().optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().optional(),
    OTEL_EXPORTER_OTLP_PROTOCOL: z.string().optional(),
    OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
    OTEL_TRACES_SAMPLER: z.string().optional(),
    OTEL_TRACES_SAMPLER_ARG: z.string().optional(),
    OTEL_SERVICE_NAME: z.string().optional(),
    /** Lists' `sla=at_risk`: tickets warned, or due within this window. */
    SLA_AT_RISK_WINDOW: Duration.default(60 * 60 * 1000),

    /** Webhook retries (durable backoff workflows and their attempts) run here, apart from ticket work. */
    TEMPORAL_WEBHOOK_TASK_QUEUE: z.string().default('deskflow-webhooks'),
    /** One webhook attempt's limit, connection to last response byte. */
    WEBHOOK_TIMEOUT: Duration.default(10_000),
    /** Retries after the first attempt before a delivery is dead-lettered. */
    WEBHOOK_MAX_RETRIES: z.coerce.number().int().min(0).max(50).default(3),
    /** The first retry's delay; each further retry doubles it (plus up to 25 % jitter). */
    WEBHOOK_RETRY_BASE_DELAY: Duration.default(1000),
    /** The longest delay between two attempts, including a receiver's `Retry-After`. */
    WEBHOOK_RETRY_MAX_DELAY: Duration.default(60 * 60 * 1000),
    /** How often the dispatcher looks for due deliveries. */
    WEBHOOK_DISPATCH_INTERVAL: Duration.default(200),
    /** Webhook first attempts in flight at once per worker process, and per endpoint. */
    WEBHOOK_DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).default(64),
    WEBHOOK_ENDPOINT_CONCURRENCY: z.coerce.number().int().min(1).default(16),
    /** An endpoint's circuit breaker opens when at least this fraction of its recent attempts failed… */
    WEBHOOK_BREAKER_FAILURE_RATE: z.coerce.number().gt(0).max(1).default(0.7),
    /** …out of at least this many attempts… */
    WEBHOOK_BREAKER_MIN_ATTEMPTS: z.coerce.number().int().min(1).default(10),
    /** …within this window (counted from the breaker's last close, if later). */
    WEBHOOK_BREAKER_WINDOW: Duration.default(5 * 60 * 1000),
    /** Deliveries are held this long after the first trip, then one probe is sent; each further trip doubles it. */
    WEBHOOK_BREAKER_COOLDOWN: Duration.default(30_000),
    /** The longest cool-down. */
    WEBHOOK_BREAKER_MAX_COOLDOWN: Duration.default(10 * 60 * 1000),
    /** This many trips without a successful probe in between disable the endpoint and open an internal ticket. */
    WEBHOOK_BREAKER_TRIPS_TO_DISABLE: z.coerce.number().int().min(1).default(3),
    /** A bulk redrive requeues an endpoint's dead letters at this many per second (on average). */
    WEBHOOK_REDRIVE_PER_SECOND: z.coerce.number().int().min(1).default(50),
    /** Dead letters a bulk redrive requeues per batch (one transaction). */
    WEBHOOK_REDRIVE_BATCH: z.coerce.number().int().min(1).max(1000).default(50),
    /** Batches of one redrive workflow run before it continues as new (keeps its history small). */
    WEBHOOK_REDRIVE_BATCHES_PER_RUN: z.coerce.number().int().min(1).default(100),
    /** Webhook attempts (the delivery log) older than this are purged by a Temporal schedule. */
    WEBHOOK_ATTEMPT_RETENTION: Duration.default(30 * 24 * 60 * 60 * 1000),
    /** How often that schedule runs. */
    WEBHOOK_RETENTION_INTERVAL: Duration.default(60 * 60 * 1000),

    /** Live updates (`/api/v1/live`): the server pings every this long; a connection without a pong by the next ping is closed. */
    LIVE_HEARTBEAT: Duration.default(30_000),
    /** A connection must authenticate within this long (header, subprotocol or first message). */
    LIVE_AUTH_TIMEOUT: Duration.default(10_000),
    /** How often a connection's session is checked again (ended, revoked, access changed: the socket closes). */
    LIVE_AUTH_RECHECK: Duration.default(15_000),
    /** A connection whose unsent data passes this many bytes is a slow consumer and is closed (4008). */
    LIVE_MAX_BUFFER: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** Open live connections per user on one API node (the next is closed with 4029). */
    LIVE_MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(10),
    /** The largest message a client may send (bytes; larger closes the socket with 1009). */
    LIVE_MAX_MESSAGE: z.coerce
      .number()
      .int()
      .min(256)
      .default(16 * 1024),
    /** Resume window: a tenant's last this many live events are kept for reconnecting clients… */
    LIVE_RESUME_EVENTS: z.coerce.number().int().min(1).default(1000),
    /** …and none older than this (older gaps get `resync`). */
    LIVE_RESUME_WINDOW: Duration.default(5 * 60 * 1000),

    /** `kid:base64(32 bytes)` comma-separated; the first encrypts, all decrypt (rotation). */
    FIELD_ENCRYPTION_KEYS: z.string().default(DEV_FIELD_KEYS),
    /** base64(32 bytes): HMAC key of blind indexes (lookup of encrypted emails). */
    BLIND_INDEX_KEY: z.string().default(DEV_BLIND_INDEX_KEY),

    JWT_ISSUER: z.string().default('deskflow'),
    ACCESS_TOKEN_TTL: Duration.default(15 * 60 * 1000),
    REFRESH_TOKEN_TTL: Duration.default(7 * 24 * 60 * 60 * 1000),
    /** A web session ends this long after login, however often it is refreshed. */
    SESSION_TTL: Duration.default(24 * 60 * 60 * 1000),
    SIGNING_KEY_ROTATION: Duration.default(90 * 24 * 60 * 60 * 1000),

    RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(100),
    INBOUND_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(10),
    /** Inbound-email requests with a missing or bad signature per minute per source address; then 429s. */
    INBOUND_BAD_SIGNATURES_PER_MIN: z.coerce.number().int().min(1).default(10),
    /**
     * The largest inbound-email body (JSON with base64 attachments), read whole to verify its signature: 35 MB, what
     * providers post for a 25 MB email. Read only when the request carries a well-formed, current signature header.
     */
    INBOUND_BODY_LIMIT: z.string().default('35mb'),
    /**
     * Login attempts per account from one source address per LOGIN_WINDOW (then that address is locked out of
     * that account). Failures from all addresses beyond this many slow the account's logins down instead.
     */
    LOGIN_ATTEMPTS_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
    LOGIN_ATTEMPTS_PER_IP: z.coerce.number().int().min(1).default(50),
    LOGIN_WINDOW: Duration.default(15 * 60 * 1000),
    /** The longest an account-wide slow-down delays a login attempt (the delay doubles per further failure). */
    LOGIN_SLOWDOWN_MAX: Duration.default(5000),
    /** Failed API-key authentications per source address per LOGIN_WINDOW; then API keys from there get a 429. */
    API_KEY_FAILURES_PER_IP: z.coerce.number().int().min(1).default(100),
    /** Comma-separated origins allowed by CORS (agent UIs); empty allows none. */
    CORS_ORIGINS: z.string().default(''),
    /** Trust X-Forwarded-For from this many proxies (for per-IP login limits). */
    TRUST_PROXY: z.coerce.number().int().min(0).default(0),

    /** Webhook receivers on loopback (127.0.0.0/8, ::1) are allowed, over plain http too: tests and local development only. */
    WEBHOOK_ALLOW_LOOPBACK: Bool.default(false),
    /** Webhook URLs may be plain http (still subject to the address checks). */
    WEBHOOK_ALLOW_HTTP: Bool.default(false),
    /** Comma-separated hosts, addresses or CIDR ranges webhooks may reach even though private (never cloud metadata). */
    WEBHOOK_ALLOWLIST: z.string().default(''),
    /** A webhook signing secret older than this is flagged `secret_rotation_due`. */
    WEBHOOK_SECRET_ROTATION: Duration.default(90 * 24 * 60 * 60 * 1000),
    /** After a rotation the previous webhook secret keeps signing (a second signature) this long. */
    WEBHOOK_SECRET_OVERLAP: Duration.default(24 * 60 * 60 * 1000),

    /** Live presence: a user on a ticket (viewing, replying) not heard from for this long is gone. */
    LIVE_PRESENCE_TTL: Duration.default(30_000),
    /** …and one typing, this long (typing is refreshed with each burst of keystrokes; stale typing misleads). */
    LIVE_TYPING_TTL: Duration.default(6000),

    DEMO_SEED: Bool.default(true),
  })
  .superRefine((config, ctx) => {
    // Object storage: S3 needs a bucket anywhere, and half a credential pair is always a mistake.
    if (config.OBJECT_STORAGE === 's3' && !config.S3_BUCKET)
      ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'set the bucket when OBJECT_STORAGE=s3' });
    if (Boolean(config.S3_ACCESS_KEY_ID) !== Boolean(config.S3_SECRET_ACCESS_KEY))
      ctx.addIssue({ code: 'custom', path: ['S3_SECRET_ACCESS_KEY'], message: 'set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither' });
    for (const type of config.ATTACHMENT_ALLOWED_TYPES.filter((t) => NEVER_ALLOWED_TYPES.has(t) || !/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(t)))
      ctx.addIssue({
        code: 'custom',
        path: ['ATTACHMENT_ALLOWED_TYPES'],
        message: `${type} cannot be allowed (not a MIME type, or it runs in a browser or on a desktop)`,
      });
    // 0 would mean "wait for ever" to PostgreSQL and pg_dump: exactly what the setting exists to prevent.
    if (!Number.isInteger(config.BACKUP_LOCK_WAIT) || config.BACKUP_LOCK_WAIT < 1000 || config.BACKUP_LOCK_WAIT > 60 * 60 * 1000)
      ctx.addIssue({ code: 'custom', path: ['BACKUP_LOCK_WAIT'], message: '1 second to 1 hour, in whole milliseconds (0 would wait for ever)' });
    if (config.ATTACHMENT_URL_TTL < 1000 || config.ATTACHMENT_URL_TTL > 7 * 24 * 60 * 60 * 1000)
      ctx.addIssue({ code: 'custom', path: ['ATTACHMENT_URL_TTL'], message: '1 second to 7 days (what a pre-signed URL can last)' });
    try {
      normalizeKeyPrefix(config.S3_KEY_PREFIX);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['S3_KEY_PREFIX'], message: (error as Error).message });
    }
    if (config.NODE_ENV === 'production') {
      if (config.FIELD_ENCRYPTION_KEYS === DEV_FIELD_KEYS)
        ctx.addIssue({ code: 'custom', path: ['FIELD_ENCRYPTION_KEYS'], message: 'set a real key in production' });
      if (config.BLIND_INDEX_KEY === DEV_BLIND_INDEX_KEY) ctx.addIssue({ code: 'custom', path: ['BLIND_INDEX_KEY'], message: 'set a real key in production' });
      if (config.API_METRICS_ADDRESS && !isLoopbackAddress(config.API_METRICS_ADDRESS) && !config.METRICS_TOKEN)
        ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'metrics served off loopback need a token in production' });
      if (config.DEMO_SEED) ctx.addIssue({ code: 'custom', path: ['DEMO_SEED'], message: 'no demo tenant in production' });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

function isLoopbackAddress(address: string): boolean {
  const { host } = splitAddress(address);
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const DEFAULT_TEMPORAL_ADDRESS = (config: Config) => config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
