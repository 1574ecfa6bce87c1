/** Users (admins and agents) of a tenant: managed by admins, audited, passwords hashed with argon2id. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { type CreateUserInput, type PatchUserInput, ROLE_SCOPES, type Role, type User } from '../domain/auth';
import { assertExpectedVersion, DeskflowError } from '../domain/errors';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import { hashPassword } from '../platform/passwords';
import type { Identity } from '../domain/identity';

const COLUMNS = 'id, tenant_id, email, name, role, active, version, created_at, updated_at';

/** Nobody makes (or takes over) a user more powerful than themselves: a narrow API key stays narrow. */
function assertCanManage(who: Identity, role: Role): void {
  const missing = ROLE_SCOPES[role].filter((s) => !who.scopes.has(s));
  if (missing.length) throw new DeskflowError('forbidden', `managing an ${role} needs the scopes ${missing.join(', ')}`);
}

/** Does this change take something away from who the user is? Then every session and token they hold ends. */
const endsSessions = (current: User, patch: PatchUserInput) =>
  patch.password !== undefined || (patch.active === false && current.active) || (patch.role === 'agent' && current.role === 'admin');

/** An account an email (and password) may log in to; found across tenants before any tenant is known. */
export interface LoginCandidate {
  id: string;
  tenant_id: string;
  role: string;
  password_hash: string;
  active: boolean;
  credential_epoch: number;
}

export interface UserStoreOptions {
  /**
   * Publishes a raised credential epoch to the session store (Redis), inside the change's transaction: if it
   * cannot be published the change is not made. Without it (operator tools) refreshes still see the new epoch.
   */
  publishEpoch?: (userId: string, epoch: number) => Promise<void>;
}

export function userStore(pool: pg.Pool, options: UserStoreOptions = {}) {
  return {
    async create(who: Identity, input: CreateUserInput, id: string = randomUUID(), requestId?: string): Promise<User> {
      assertCanManage(who, input.role);
      const hash = await hashPassword(input.password);
      try {
        return await inTenantTransaction(pool, who.tenantId, async (db) => {
          const { rows } = await db.query<User>(
            `INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
            [id, who.tenantId, input.email, input.name, input.role, hash],
          );
          if (!rows[0]) return (await db.query<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id])).rows[0]!;
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'user.created',
            entity_type: 'user',
            entity_id: id,
            after: { email: input.email, name: input.name, role: input.role },
            request_id: requestId,
          });
          return rows[0];
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new DeskflowError('conflict', 'a user with this email already exists in this tenant', { field: 'email' });
        throw err;
      }
    },

    async get(tenantId: string, id: string): Promise<User | null> {
      return withTenant(
        pool,
        tenantId,
        async (db) => (await db.query<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2`, [tenantId, id])).rows[0] ?? null,
      );
    },

    /** Within the tenant: the user with this (lower-cased) email, if any. */
    async findByEmail(tenantId: string, email: string): Promise<User | null> {
      return withTenant(
        pool,
        tenantId,
        async (db) => (await db.query<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2`, [tenantId, email])).rows[0] ?? null,
      );
    },

    /** Every account with this email (in `tenantId` only, when given), through a SECURITY DEFINER function. */
    async loginCandidates(email: string, tenantId: string | null): Promise<LoginCandidate[]> {
      return (await pool.query<LoginCandidate>('SELECT * FROM auth_find_user($1, $2)', [email, tenantId])).rows;
    },

    /** What a session's validity depends on: the user still exists, is active, and its credential epoch. */
    async credentialState(tenantId: string, id: string): Promise<{ role: string; active: boolean; credential_epoch: number } | null> {
      return withTenant(
        pool,
        tenantId,
        async (db) =>
          (
            await db.query<{ role: string; active: boolean; credential_epoch: number }>(
              'SELECT role, active, credential_epoch FROM users WHERE tenant_id = $1 AND id = $2',
              [tenantId, id],
            )
          ).rows[0] ?? null,
      );
    },

    async list(tenantId: string, limit: number, after?: [string, string]): Promise<User[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<User>(
          // Resume from the cursor row's exact (microsecond) time: the cursor itself carries milliseconds.
          `SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) <
             (coalesce((SELECT u.created_at FROM users u WHERE u.tenant_id = $1 AND u.id = $3::uuid), $2::timestamptz), $3::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $4`,
          [tenantId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows;
      });
    },

    async patch(who: Identity, id: string, patch: PatchUserInput, expectedVersion?: number, requestId?: string): Promise<User> {
      const columns: Record<string, unknown> = {};
      if (patch.name !== undefined) columns.name = patch.name;
      if (patch.role !== undefined) columns.role = patch.role;
      if (patch.active !== undefined) columns.active = patch.active;
      if (patch.password !== undefined) columns.password_hash = await hashPassword(patch.password);
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const current = (await db.query<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [who.tenantId, id])).rows[0];
        if (!current) throw new DeskflowError('not_found', 'user not found');
        assertCanManage(who, current.role);
        if (patch.role) assertCanManage(who, patch.role);
        assertExpectedVersion(current, expectedVersion);
        if (who.actor.id === id && (patch.active === false || patch.role === 'agent')) {
          throw new DeskflowError('rule_violation', 'admins cannot demote or deactivate themselves');
        }
        const sets = Object.keys(columns).map((c, i) => `${c} = $${i + 3}`);
        if (endsSessions(current, patch)) sets.push('credential_epoch = credential_epoch + 1');
        const { rows } = await db.query<User & { credential_epoch: number }>(
          `UPDATE users SET ${sets.join(', ')}, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2
           RETURNING ${COLUMNS}, credential_epoch`,
          [who.tenantId, id, ...Object.values(columns)],
        );
        const { credential_epoch: epoch, ...updated } = rows[0]!;
        const visible = Object.keys(patch).filter((k) => k !== 'password');
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'user.updated',
          entity_type: 'user',
          entity_id: id,
          before: Object.fromEntries(visible.map((k) => [k, current[k as keyof User]])),
          after: { ...Object.fromEntries(visible.map((k) => [k, patch[k as keyof PatchUserInput]])), ...(patch.password ? { password: '[changed]' } : {}) },
          request_id: requestId,
        });
        // Last before COMMIT: should publishing fail, the change is rolled back rather than half in force.
        if (endsSessions(current, patch)) await options.publishEpoch?.(id, epoch);
        return updated;
      });
    },
  };
}
export type UserStore = ReturnType<typeof userStore>;
