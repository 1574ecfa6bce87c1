/**
 * ⚠ DEVELOPMENT IDENTITY — the one place that decides who is calling.
 * Until real authentication lands, the tenant and acting agent come from two headers:
 *   X-Deskflow-Tenant: <tenant uuid>    X-Deskflow-Agent: <agent uuid>
 * Enabled only while DEV_IDENTITY=true. Replacing this middleware replaces identity everywhere.
 */
import type { RequestHandler } from 'express';
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import { Uuid } from '../domain/ids';

export function devIdentity(pool: pg.Pool, enabled: boolean): RequestHandler {
  const knownTenants = new Set<string>();
  return async (req, _res, next) => {
    if (!enabled) throw new DeskflowError('unauthenticated', 'no authentication mechanism is enabled');
    const tenant = req.headers['x-deskflow-tenant'];
    const agent = req.headers['x-deskflow-agent'];
    if (typeof tenant !== 'string' || !Uuid.safeParse(tenant).success) {
      throw new DeskflowError('unauthenticated', 'send X-Deskflow-Tenant: <tenant uuid> (development identity)');
    }
    if (agent !== undefined && (typeof agent !== 'string' || !Uuid.safeParse(agent).success)) {
      throw new DeskflowError('unauthenticated', 'X-Deskflow-Agent must be a uuid');
    }
    if (!knownTenants.has(tenant)) {
      const { rowCount } = await pool.query('SELECT 1 FROM tenants WHERE id = $1', [tenant]);
      if (!rowCount) throw new DeskflowError('unauthenticated', 'unknown tenant');
      knownTenants.add(tenant);
    }
    req.identity = { tenantId: tenant, actor: { type: 'agent', id: (agent as string | undefined) ?? null } };
    next();
  };
}
