/** Customers are reference data: plain CRUD in PostgreSQL, every query scoped by tenant. */
import type pg from 'pg';
import type { CreateCustomerInput, Customer, PatchCustomerInput } from '../domain/customer';
import { DeskflowError } from '../domain/errors';

const COLUMNS = 'id, tenant_id, name, email, phone, external_id, version, created_at, updated_at';

function uniqueViolation(err: unknown): DeskflowError | unknown {
  const e = err as { code?: string; constraint?: string };
  if (e?.code !== '23505') return err;
  const field = e.constraint?.includes('email') ? 'email' : e.constraint?.includes('external_id') ? 'external_id' : 'id';
  return new DeskflowError('conflict', `a customer with this ${field} already exists`, { field });
}

export function customerStore(pool: pg.Pool) {
  return {
    /** Idempotent by id: a replayed create returns the customer it created the first time. */
    async create(tenantId: string, id: string, input: CreateCustomerInput): Promise<Customer> {
      try {
        const { rows } = await pool.query<Customer>(
          `INSERT INTO customers (id, tenant_id, name, email, phone, external_id) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
          [id, tenantId, input.name, input.email, input.phone, input.external_id],
        );
        return rows[0] ?? ((await this.get(tenantId, id)) as Customer);
      } catch (err) {
        throw uniqueViolation(err);
      }
    },

    async get(tenantId: string, id: string): Promise<Customer | null> {
      const { rows } = await pool.query<Customer>(`SELECT ${COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
      return rows[0] ?? null;
    },

    async exists(tenantId: string, id: string): Promise<boolean> {
      const { rowCount } = await pool.query('SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
      return rowCount === 1;
    },

    async list(tenantId: string, limit: number, after?: [string, string], email?: string): Promise<Customer[]> {
      const { rows } = await pool.query<Customer>(
        `SELECT ${COLUMNS} FROM customers
         WHERE tenant_id = $1 AND ($2::text IS NULL OR lower(email) = lower($2))
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $5`,
        [tenantId, email ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
      );
      return rows;
    },

    /** Optimistic concurrency: with `expectedVersion`, a concurrent change makes this a 412. */
    async patch(tenantId: string, id: string, patch: PatchCustomerInput, expectedVersion?: number): Promise<Customer> {
      const sets: string[] = [];
      const values: unknown[] = [tenantId, id];
      for (const [field, value] of Object.entries(patch)) {
        values.push(value);
        sets.push(`${field} = $${values.length}`); // field names come from the strict zod schema
      }
      values.push(expectedVersion ?? null);
      try {
        const { rows } = await pool.query<Customer>(
          `UPDATE customers SET ${sets.join(', ')}, version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND ($${values.length}::int IS NULL OR version = $${values.length})
           RETURNING ${COLUMNS}`,
          values,
        );
        if (rows[0]) return rows[0];
      } catch (err) {
        throw uniqueViolation(err);
      }
      const current = await this.get(tenantId, id);
      if (!current) throw new DeskflowError('not_found');
      throw new DeskflowError('version_mismatch', `expected version ${expectedVersion}, current is ${current.version}`, {
        current_version: current.version,
      });
    },
  };
}
export type CustomerStore = ReturnType<typeof customerStore>;
