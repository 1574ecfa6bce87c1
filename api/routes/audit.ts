import type pg from 'pg';
import { z } from 'zod';
import { Text } from '../../domain/text';
import { PageQuery } from '../../domain/pagination';
import { withTenant } from '../../platform/tenant-db';
import { decodeCursor, pageOf } from '../cursor';
import type { RouteSpec } from '../http/route';
import { pageOfSchema } from '../http/schemas';
import { identityOf, parseQuery } from '../request';

const AuditQuery = z
  .object({
    ...PageQuery,
    entity_type: Text.regex(/^[a-z_]{1,40}$/).optional(),
    entity_id: Text.max(128).optional(),
    actor_id: Text.max(128).optional(),
    action: Text.regex(/^[a-z_.]{1,80}$/).optional(),
    from: z.iso.datetime().optional(),
    to: z.iso.datetime().optional(),
  })
  .strict();

const AuditEntry = z.object({
  seq: z.number().int(),
  actor: z.object({ type: z.string(), id: z.string().nullable() }),
  action: z.string(),
  entity_type: z.string(),
  entity_id: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  request_id: z.string().nullable(),
  occurred_at: z.string(),
  hash: z.string(),
});
const SeqKey = z.tuple([z.number().int().positive()]);

export function auditRoutes(pool: pg.Pool): RouteSpec[] {
  return [
    {
      method: 'get', path: '/api/v1/audit', tag: 'Audit', summary: 'The audit trail, newest first', auth: 'bearer', scope: 'audit:read',
      request: { query: AuditQuery },
      responses: { 200: { description: 'A page of audit entries', body: pageOfSchema(AuditEntry) } },
      handler: async (req, res) => {
        const q = parseQuery(AuditQuery, req);
        const tenantId = identityOf(req).tenantId;
        const before = decodeCursor(q.cursor, SeqKey)?.[0] ?? null;
        const rows = await withTenant(pool, tenantId, async (db) => {
          const result = await db.query(
            `SELECT seq::int, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id, occurred_at, hash
             FROM audit_log WHERE tenant_id = $1
               AND ($2::text IS NULL OR entity_type = $2) AND ($3::text IS NULL OR entity_id = $3)
               AND ($4::text IS NULL OR actor_id = $4) AND ($5::text IS NULL OR action = $5)
               AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)
               AND ($8::bigint IS NULL OR seq < $8)
             ORDER BY seq DESC LIMIT $9`,
            [tenantId, q.entity_type ?? null, q.entity_id ?? null, q.actor_id ?? null, q.action ?? null, q.from ?? null, q.to ?? null, before, q.limit + 1],
          );
          return result.rows.map(({ actor_type, actor_id, ...rest }) => ({ ...rest, actor: { type: actor_type, id: actor_id } }));
        });
        res.json(pageOf(rows, q.limit, (e) => [e.seq]));
      },
    },
  ];
}
