/**
 * The audit trail: append-only, hash-chained per tenant. The database trigger assigns seq, time and
 * hashes (so callers cannot forge them); `verifyAuditChain` recomputes the chain and reports breaks.
 */
import type pg from 'pg';
import type { Actor } from '../domain/ticket';
import type { Db } from './tenant-db';

export interface AuditEntry {
  tenant_id: string;
  actor: Actor;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before?: unknown;
  after?: unknown;
  request_id?: string | null;
}

/** What a caller writes into audit_log; the trigger fills in seq, time and the hashes. */
export const AUDIT_COLUMNS = 'tenant_id, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id';

/** Appends inside the caller's tenant-scoped connection/transaction, so it commits with the change. */
export async function appendAudit(db: Db, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (${AUDIT_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      e.tenant_id,
      e.actor.type,
      e.actor.id,
      e.action,
      e.entity_type,
      e.entity_id,
      e.before === undefined ? null : JSON.stringify(e.before),
      e.after === undefined ? null : JSON.stringify(e.after),
      e.request_id ?? null,
    ],
  );
}

export interface ChainReport {
  tenant_id: string;
  entries: number;
  problems: string[];
}

/** Run with the owner role (it reads every tenant). A tampered, missing or reordered entry is reported. */
export async function verifyAuditChain(adminPool: pg.Pool, tenantId?: string): Promise<ChainReport[]> {
  const { rows } = await adminPool.query<{ tenant_id: string; seq: string; prev_hash: string; hash: string; recomputed: string }>(
    `SELECT tenant_id, seq, prev_hash, hash, audit_entry_hash(a) AS recomputed FROM audit_log a
     WHERE $1::uuid IS NULL OR tenant_id = $1 ORDER BY tenant_id, seq`,
    [tenantId ?? null],
  );
  const reports = new Map<string, ChainReport>();
  let previous: { tenant: string; seq: number; hash: string } | undefined;
  for (const row of rows) {
    const report = reports.get(row.tenant_id) ?? { tenant_id: row.tenant_id, entries: 0, problems: [] };
    reports.set(row.tenant_id, report);
    report.entries++;
    const seq = Number(row.seq);
    const expectedSeq = previous?.tenant === row.tenant_id ? previous.seq + 1 : 1;
    const expectedPrev = previous?.tenant === row.tenant_id ? previous.hash : '0'.repeat(64);
    if (seq !== expectedSeq) report.problems.push(`entry ${seq}: expected seq ${expectedSeq} (entries missing)`);
    if (row.prev_hash !== expectedPrev) report.problems.push(`entry ${seq}: prev_hash does not match the previous entry`);
    if (row.recomputed !== row.hash) report.problems.push(`entry ${seq}: content does not match its hash (tampered)`);
    previous = { tenant: row.tenant_id, seq, hash: row.hash };
  }
  return [...reports.values()];
}
