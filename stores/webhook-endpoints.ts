/**
 * Webhook endpoints: tenant-scoped, audited, soft-deleted (deliveries keep referring to them). The signing
 * secret is generated here, shown once (at creation and at each rotation), stored encrypted like PII and
 * read back only to sign deliveries (`secretsForSigning`). Audit entries never hold a secret, nor the values
 * of custom headers (they often carry a receiver's credential).
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { assertExpectedVersion, DeskflowError } from '../domain/errors';
import type { Identity } from '../domain/identity';
import type { CreateWebhookEndpointInput, PatchWebhookEndpointInput, WebhookEndpoint, WebhookEventType } from '../domain/webhooks';
import { appendAudit } from '../platform/audit';
import type { Config } from '../platform/config';
import type { FieldCrypto } from '../platform/field-crypto';
import { assertSafeWebhookUrl, webhookUrlPolicy } from '../platform/ssrf';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';

const COLUMNS =
  'id, tenant_id, url, description, event_types, enabled, disabled_reason, headers, include_internal, secret_created_at, version, created_at, updated_at, ' +
  'breaker_state, cardinality(breaker_tripped_at) AS breaker_trips, breaker_retry_at';
type Row = Omit<WebhookEndpoint, 'secret_rotation_due' | 'event_types' | 'circuit'> & {
  event_types: string[];
  breaker_state: WebhookEndpoint['circuit']['state'];
  breaker_trips: number;
  breaker_retry_at: string | null;
};
const LIVE = 'deleted_at IS NULL';
const DISABLED_BY_ADMIN = 'disabled by an admin';

export type WebhookEndpointConfig = Pick<
  Config,
  'WEBHOOK_ALLOW_HTTP' | 'WEBHOOK_ALLOW_LOOPBACK' | 'WEBHOOK_ALLOWLIST' | 'WEBHOOK_SECRET_ROTATION' | 'WEBHOOK_SECRET_OVERLAP'
>;

/** `whsec_` + base64 of 32 random bytes (Standard Webhooks): the bytes after the prefix are the HMAC key. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** What the audit trail records of an endpoint: its settings, the names (not values) of its headers. */
function auditView(fields: Partial<CreateWebhookEndpointInput>) {
  const { headers, ...rest } = fields;
  return headers === undefined ? rest : { ...rest, header_names: Object.keys(headers) };
}

export function webhookEndpointStore(pool: pg.Pool, crypto: FieldCrypto, config: WebhookEndpointConfig) {
  const policy = webhookUrlPolicy(config);
  const toEndpoint = ({ breaker_state, breaker_trips, breaker_retry_at, ...row }: Row): WebhookEndpoint => ({
    ...row,
    event_types: row.event_types as WebhookEventType[],
    secret_rotation_due: Date.parse(row.secret_created_at) + config.WEBHOOK_SECRET_ROTATION <= Date.now(),
    circuit: { state: breaker_state, trips: breaker_trips, retry_at: breaker_state === 'open' ? breaker_retry_at : null },
  });
  const select = (db: Pick<pg.PoolClient, 'query'>, tenantId: string, id: string, extra = '') =>
    db.query<Row & { secret_enc: string }>(`SELECT ${COLUMNS}, secret_enc FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND ${LIVE} ${extra}`, [
      tenantId,
      id,
    ]);

  const store = {
    /**
     * Returns the endpoint and, this once, its secret. Idempotent by id: a retry of the same request (same
     * credential, same Idempotency-Key, so the same id) after a lost response gets the endpoint it created.
     */
    async create(who: Identity, id: string, input: CreateWebhookEndpointInput, requestId?: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      await assertSafeWebhookUrl(input.url, policy);
      const secret = newWebhookSecret();
      const existing = async () => {
        const { rows } = await withTenant(pool, who.tenantId, (db) => select(db, who.tenantId, id));
        if (!rows[0]) throw new DeskflowError('conflict', 'this id is taken');
        const { secret_enc, ...row } = rows[0];
        return { endpoint: toEndpoint(row), secret: crypto.decrypt(secret_enc) };
      };
      try {
        const created = await inTenantTransaction(pool, who.tenantId, async (db) => {
          const { rows } = await db.query<Row>(
            `INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason, headers, include_internal, secret_enc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
            [
              id,
              who.tenantId,
              input.url,
              input.description,
              input.event_types,
              input.enabled,
              input.enabled ? null : DISABLED_BY_ADMIN,
              JSON.stringify(input.headers),
              input.include_internal,
              crypto.encrypt(secret),
            ],
          );
          if (!rows[0]) return null;
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'webhook_endpoint.created',
            entity_type: 'webhook_endpoint',
            entity_id: id,
            after: auditView(input),
            request_id: requestId,
          });
          return { endpoint: toEndpoint(rows[0]), secret };
        });
        return created ?? (await existing());
      } catch (err) {
        // A retry racing the first attempt: ON CONFLICT (id) does not cover the (tenant_id, id) key.
        if ((err as { code?: string }).code === '23505') return existing();
        throw err;
      }
    },

    async get(tenantId: string, id: string): Promise<WebhookEndpoint | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND ${LIVE}`, [tenantId, id]);
        return rows[0] ? toEndpoint(rows[0]) : null;
      });
    },

    /** Newest first, keyset-paginated (limit+1 rows). */
    async list(tenantId: string, limit: number, after?: [string, string]): Promise<WebhookEndpoint[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Row>(
          // The cursor's time has millisecond precision, the column microseconds: resume from the cursor row's own time.
          `SELECT ${COLUMNS} FROM webhook_endpoints
           WHERE tenant_id = $1 AND ${LIVE}
             AND ($2::timestamptz IS NULL OR (created_at, id) <
                  (coalesce((SELECT e.created_at FROM webhook_endpoints e WHERE e.tenant_id = $1 AND e.id = $3::uuid), $2::timestamptz), $3::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $4`,
          [tenantId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows.map(toEndpoint);
      });
    },

    /** Optimistic concurrency: with `expectedVersion`, a concurrent change makes this a 412. A new URL is checked like at creation. */
    async patch(who: Identity, id: string, patch: PatchWebhookEndpointInput, expectedVersion?: number, requestId?: string): Promise<WebhookEndpoint> {
      if (patch.url !== undefined) await assertSafeWebhookUrl(patch.url, policy);
      const columns: Record<string, unknown> = {};
      if (patch.url !== undefined) columns.url = patch.url;
      if (patch.description !== undefined) columns.description = patch.description;
      if (patch.event_types !== undefined) columns.event_types = patch.event_types;
      if (patch.include_internal !== undefined) columns.include_internal = patch.include_internal;
      if (patch.headers !== undefined) columns.headers = JSON.stringify(patch.headers);
      if (patch.enabled !== undefined) {
        columns.enabled = patch.enabled;
        // Re-enabling clears why it was off (a 410, the circuit breaker); switching off says who did.
        columns.disabled_reason = patch.enabled ? null : DISABLED_BY_ADMIN;
      }
      const sets = Object.keys(columns).map((column, i) => `${column} = $${i + 3}`); // column names are ours, not input
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const before = await select(db, who.tenantId, id, 'FOR NO KEY UPDATE'); // not blocking the outbox's FK checks
        const current = before.rows[0];
        if (!current) throw new DeskflowError('not_found', 'webhook endpoint not found');
        assertExpectedVersion(current, expectedVersion);
        // Enabling a disabled endpoint starts its circuit breaker afresh (closed, no trips, failures counted from now).
        const resetBreaker =
          patch.enabled === true && !current.enabled
            ? `, breaker_state = 'closed', breaker_closed_at = now(), breaker_retry_at = NULL, breaker_tripped_at = '{}',
               breaker_probe_delivery_id = NULL, breaker_probe_started_at = NULL`
            : '';
        const { rows } = await db.query<Row>(
          `UPDATE webhook_endpoints SET ${sets.join(', ')}${resetBreaker}, version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
          [who.tenantId, id, ...Object.values(columns)],
        );
        // Resuming releases what was held while the endpoint was off (and what its retries parked), oldest first:
        // nothing was lost.
        if (patch.enabled === true && !current.enabled) {
          await db.query(
            `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
             WHERE tenant_id = $1 AND endpoint_id = $2 AND (status = 'held' OR (status = 'pending' AND next_attempt_at > now()))`,
            [who.tenantId, id],
          );
        }
        const old = current as unknown as Record<string, unknown>;
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'webhook_endpoint.updated',
          entity_type: 'webhook_endpoint',
          entity_id: id,
          before: auditView(Object.fromEntries(Object.keys(patch).map((k) => [k, old[k]]))),
          after: auditView(patch),
          request_id: requestId,
        });
        return toEndpoint(rows[0]!);
      });
    },

    /** Soft: hidden from reads, disabled (nothing new is delivered), its deliveries and their log kept. */
    async delete(who: Identity, id: string, requestId?: string): Promise<void> {
      await inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rowCount } = await db.query(
          `UPDATE webhook_endpoints SET deleted_at = now(), enabled = false, disabled_reason = 'deleted',
             previous_secret_enc = NULL, previous_secret_expires_at = NULL, version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND ${LIVE}`,
          [who.tenantId, id],
        );
        if (!rowCount) throw new DeskflowError('not_found', 'webhook endpoint not found');
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'webhook_endpoint.deleted',
          entity_type: 'webhook_endpoint',
          entity_id: id,
          request_id: requestId,
        });
      });
    },

    /**
     * A new secret, returned this once. The one it replaces keeps signing (a second signature on every
     * attempt) for WEBHOOK_SECRET_OVERLAP, so receivers can switch without losing a delivery. Rotating again
     * within the overlap ends the older secret's overlap at once (one previous secret is kept).
     */
    async rotateSecret(who: Identity, id: string, requestId?: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      const secret = newWebhookSecret();
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rows } = await db.query<Row & { previous_secret_expires_at: string }>(
          `UPDATE webhook_endpoints
           SET previous_secret_enc = secret_enc, previous_secret_expires_at = now() + make_interval(secs => $3::double precision / 1000),
               secret_enc = $4, secret_created_at = now(), version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND ${LIVE} RETURNING ${COLUMNS}, previous_secret_expires_at`,
          [who.tenantId, id, config.WEBHOOK_SECRET_OVERLAP, crypto.encrypt(secret)],
        );
        if (!rows[0]) throw new DeskflowError('not_found', 'webhook endpoint not found');
        const { previous_secret_expires_at, ...row } = rows[0];
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'webhook_endpoint.secret_rotated',
          entity_type: 'webhook_endpoint',
          entity_id: id,
          after: { secret_created_at: row.secret_created_at, previous_secret_expires_at },
          request_id: requestId,
        });
        return { endpoint: toEndpoint(row), secret };
      });
    },

    /**
     * The secrets to sign a delivery with, decrypted (`whsec_…`): the current one first, then the previous one
     * while its overlap lasts. A deleted or unknown endpoint (or another tenant's) is `not_found`: deliver nothing.
     */
    async secretsForSigning(tenantId: string, endpointId: string): Promise<string[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ secret_enc: string; previous_enc: string | null }>(
          `SELECT secret_enc, CASE WHEN previous_secret_expires_at > now() THEN previous_secret_enc END AS previous_enc
           FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND ${LIVE}`,
          [tenantId, endpointId],
        );
        const row = rows[0];
        if (!row) throw new DeskflowError('not_found', 'webhook endpoint not found');
        return signingSecrets(crypto, row.secret_enc, row.previous_enc);
      });
    },
  };
  return store;
}
export type WebhookEndpointStore = ReturnType<typeof webhookEndpointStore>;

/** The secrets a delivery is signed with: the current one, and the previous one while its overlap lasts (else null). */
export function signingSecrets(crypto: FieldCrypto, currentEnc: string, previousEncInOverlap: string | null): string[] {
  return previousEncInOverlap ? [crypto.decrypt(currentEnc), crypto.decrypt(previousEncInOverlap)] : [crypto.decrypt(currentEnc)];
}
