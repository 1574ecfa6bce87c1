/** Agent groups: reference data, tenant-scoped, audited. */
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import type { CreateGroupInput, Group } from '../domain/group';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import type { Identity } from '../domain/identity';

const COLUMNS = 'id, tenant_id, name, created_at, updated_at';

export function groupStore(pool: pg.Pool) {
  const store = {
    /** Idempotent by id: a replayed create returns the group it created the first time. */
    async create(who: Identity, id: string, input: CreateGroupInput, requestId?: string): Promise<Group> {
      try {
        return await inTenantTransaction(pool, who.tenantId, async (db) => {
          const { rows } = await db.query<Group>(
            `INSERT INTO groups (id, tenant_id, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
            [id, who.tenantId, input.name],
          );
          if (!rows[0]) {
            const existing = await db.query<Group>(`SELECT ${COLUMNS} FROM groups WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id]);
            if (!existing.rows[0]) throw new DeskflowError('conflict', 'this id is taken');
            return existing.rows[0];
          }
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'group.created',
            entity_type: 'group',
            entity_id: id,
            after: { name: input.name },
            request_id: requestId,
          });
          return rows[0];
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new DeskflowError('conflict', 'a group with this name already exists', { field: 'name' });
        throw err;
      }
    },

    async get(tenantId: string, id: string): Promise<Group | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Group>(`SELECT ${COLUMNS} FROM groups WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
        return rows[0] ?? null;
      });
    },

    /** By name, keyset-paginated (limit+1 rows). */
    async list(tenantId: string, limit: number, after?: [string, string]): Promise<Group[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Group>(
          `SELECT ${COLUMNS} FROM groups WHERE tenant_id = $1 AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid))
           ORDER BY name, id LIMIT $4`,
          [tenantId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows;
      });
    },
  };
  return store;
}
export type GroupStore = ReturnType<typeof groupStore>;
