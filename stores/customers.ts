/**
 * Customers are reference data: CRUD in PostgreSQL, tenant-scoped, audited. Email and phone are
 * encrypted at rest; email is looked up through its blind index (keyed per tenant). Audit entries never
 * hold the PII.
 */
import type pg from 'pg';
import type { CreateCustomerInput, Customer, PatchCustomerInput } from '../domain/customer';
import { assertExpectedVersion, DeskflowError } from '../domain/errors';
import { appendAudit } from '../platform/audit';
import { BLIND_INDEX_VERSION, type FieldCrypto } from '../platform/field-crypto';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import type { Identity } from '../domain/identity';

const COLUMNS = 'id, tenant_id, name, email_enc, phone_enc, external_id, version, created_at, updated_at';
type Row = Omit<Customer, 'email' | 'phone'> & { email_enc: string | null; phone_enc: string | null };

const PII = new Set(['email', 'phone']);
/** What the audit trail records of a customer change: field names for PII, values for the rest. */
const auditView = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, PII.has(k) && v !== null ? '[encrypted]' : v]));

function uniqueViolation(err: unknown): unknown {
  const e = err as { code?: string; constraint?: string };
  if (e?.code !== '23505') return err;
  const field = e.constraint?.includes('email') ? 'email' : e.constraint?.includes('external_id') ? 'external_id' : 'id';
  return new DeskflowError('conflict', `a customer with this ${field} already exists`, { field });
}

export function customerStore(pool: pg.Pool, crypto: FieldCrypto) {
  const toCustomer = ({ email_enc, phone_enc, ...row }: Row): Customer => ({
    ...row,
    email: crypto.decryptNullable(email_enc),
    phone: crypto.decryptNullable(phone_enc),
  });

  const store = {
    /** Idempotent by id: a replayed create returns the customer it created the first time. */
    async create(who: Identity, id: string, input: CreateCustomerInput, requestId?: string): Promise<Customer> {
      try {
        return await inTenantTransaction(pool, who.tenantId, async (db) => {
          const { rows } = await db.query<Row>(
            `INSERT INTO customers (id, tenant_id, name, email_enc, email_bidx, email_bidx_version, phone_enc, external_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
            [
              id,
              who.tenantId,
              input.name,
              crypto.encryptNullable(input.email),
              input.email ? crypto.blindIndex(who.tenantId, input.email) : null,
              BLIND_INDEX_VERSION,
              crypto.encryptNullable(input.phone),
              input.external_id,
            ],
          );
          if (!rows[0]) {
            const existing = await db.query<Row>(`SELECT ${COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id]);
            return toCustomer(existing.rows[0]!);
          }
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'customer.created',
            entity_type: 'customer',
            entity_id: id,
            after: auditView(input),
            request_id: requestId,
          });
          return toCustomer(rows[0]);
        });
      } catch (err) {
        // A concurrent create of the same id (a retry racing the first attempt) committed first; ON CONFLICT (id)
        // does not cover the (tenant_id, id) key, so that race surfaces here: answer with what it created.
        const e = err as { code?: string; constraint?: string };
        if (e?.code === '23505' && (e.constraint === 'customers_pkey' || e.constraint === 'customers_tenant_id_id_key')) {
          const existing = await store.get(who.tenantId, id);
          if (existing) return existing;
        }
        throw uniqueViolation(err);
      }
    },

    async get(tenantId: string, id: string): Promise<Customer | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
        return rows[0] ? toCustomer(rows[0]) : null;
      });
    },

    async findByEmail(tenantId: string, email: string): Promise<Customer | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM customers WHERE tenant_id = $1 AND email_bidx = $2`, [
          tenantId,
          crypto.blindIndex(tenantId, email),
        ]);
        return rows[0] ? toCustomer(rows[0]) : null;
      });
    },

    async list(tenantId: string, limit: number, after?: [string, string], email?: string): Promise<Customer[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Row>(
          // The cursor's time has millisecond precision, the column microseconds: resume from the exact time of
          // the cursor's row, or rows sharing its millisecond would be skipped.
          `SELECT ${COLUMNS} FROM customers
           WHERE tenant_id = $1 AND ($2::text IS NULL OR email_bidx = $2)
             AND ($3::timestamptz IS NULL OR (created_at, id) <
                  (coalesce((SELECT c.created_at FROM customers c WHERE c.tenant_id = $1 AND c.id = $4::uuid), $3::timestamptz), $4::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $5`,
          [tenantId, email ? crypto.blindIndex(tenantId, email) : null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows.map(toCustomer);
      });
    },

    /** Optimistic concurrency: with `expectedVersion`, a concurrent change makes this a 412. */
    async patch(who: Identity, id: string, patch: PatchCustomerInput, expectedVersion?: number, requestId?: string): Promise<Customer> {
      const columns: Record<string, unknown> = {};
      if (patch.name !== undefined) columns.name = patch.name;
      if (patch.external_id !== undefined) columns.external_id = patch.external_id;
      if (patch.phone !== undefined) columns.phone_enc = crypto.encryptNullable(patch.phone);
      if (patch.email !== undefined) {
        columns.email_enc = crypto.encryptNullable(patch.email);
        columns.email_bidx = patch.email ? crypto.blindIndex(who.tenantId, patch.email) : null;
        columns.email_bidx_version = BLIND_INDEX_VERSION;
      }
      const sets = Object.keys(columns).map((column, i) => `${column} = $${i + 3}`); // column names are ours, not input
      const values = [who.tenantId, id, ...Object.values(columns), expectedVersion ?? null];
      const versionParam = `$${values.length}`;
      try {
        return await inTenantTransaction(pool, who.tenantId, async (db) => {
          const before = await db.query<Row & { erased: boolean }>(
            `SELECT ${COLUMNS}, erased_at IS NOT NULL AS erased FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
            [who.tenantId, id],
          );
          const current = before.rows[0];
          if (!current) throw new DeskflowError('not_found', 'customer not found');
          // An erasure is final: the record takes no new personal data (a new customer record would be a new start).
          if (current.erased) throw new DeskflowError('conflict', 'this customer was erased');
          assertExpectedVersion(current, expectedVersion);
          const { rows } = await db.query<Row>(
            `UPDATE customers SET ${sets.join(', ')}, version = version + 1, updated_at = now()
             WHERE tenant_id = $1 AND id = $2 AND (${versionParam}::int IS NULL OR version = ${versionParam}) RETURNING ${COLUMNS}`,
            values,
          );
          const old = toCustomer(current);
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'customer.updated',
            entity_type: 'customer',
            entity_id: id,
            before: auditView(Object.fromEntries(Object.keys(patch).map((k) => [k, old[k as keyof Customer]]))),
            after: auditView(patch),
            request_id: requestId,
          });
          return toCustomer(rows[0]!);
        });
      } catch (err) {
        throw uniqueViolation(err);
      }
    },
  };
  return store;
}
export type CustomerStore = ReturnType<typeof customerStore>;
