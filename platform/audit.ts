/**
 * The audit trail: append-only, hash-chained per tenant. The database trigger assigns seq, time and
 * hashes (so callers cannot forge them); `verifyAuditChain` recomputes the chain and reports breaks;
 * a signed anchor of a chain's head, kept outside the database, shows that every entry up to the one it
 * names is still there (which the chain alone cannot: deleting the newest entries leaves a valid chain).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import type { Actor } from '../domain/ticket';
import { parseKeyring } from './field-crypto';
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

/**
 * Run with the owner role (it reads every tenant). A tampered, missing or reordered entry is reported. An entry whose
 * payload was redacted (an erasure, migration 020, or an archive deletion, migration 022) is checked against the digest
 * of what it held; its redaction must be recorded by a later `customer.erased` entry of the chain, or by the
 * `ticket.archive_deleted` entry of its own ticket, so a payload cannot be swapped under cover of one.
 */
export async function verifyAuditChain(adminPool: pg.Pool, tenantId?: string): Promise<ChainReport[]> {
  const { rows } = await adminPool.query<{
    tenant_id: string;
    seq: string;
    prev_hash: string;
    hash: string;
    recomputed: string;
    redacted: boolean;
    redacts: unknown;
    /** The ticket an archive deletion redacted entries of (only that ticket's); null for an erasure (its customer's and tickets'). */
    of_ticket: string | null;
    entity: string;
  }>(
    `SELECT tenant_id, seq, prev_hash, hash, audit_entry_hash(a) AS recomputed, redacted_at IS NOT NULL AS redacted,
            CASE WHEN action IN ('customer.erased', 'ticket.archive_deleted') THEN after->'redacted_seqs' END AS redacts,
            CASE WHEN action = 'ticket.archive_deleted' THEN entity_id END AS of_ticket, entity_type || ':' || coalesce(entity_id, '') AS entity
     FROM audit_log a WHERE $1::uuid IS NULL OR tenant_id = $1 ORDER BY tenant_id, seq`,
    [tenantId ?? null],
  );
  const reports = new Map<string, ChainReport>();
  /**
   * Per tenant: entries found redacted (with their entity), and the entries erasures and archive deletions say they
   * redacted (with the entity an archive deletion's must be, null for an erasure's).
   */
  const redactions = new Map<string, { found: { seq: number; entity: string }[]; recorded: Map<number, string | null> }>();
  let previous: { tenant: string; seq: number; hash: string } | undefined;
  for (const row of rows) {
    const report = reports.get(row.tenant_id) ?? { tenant_id: row.tenant_id, entries: 0, problems: [] };
    reports.set(row.tenant_id, report);
    report.entries++;
    const redaction = redactions.get(row.tenant_id) ?? { found: [], recorded: new Map<number, string | null>() };
    redactions.set(row.tenant_id, redaction);
    if (row.redacted) redaction.found.push({ seq: Number(row.seq), entity: row.entity });
    if (Array.isArray(row.redacts)) {
      // An erasure's record covers any entry; an archive deletion's only its own ticket's (an erasure's wins over it).
      const by = row.of_ticket === null ? null : `ticket:${row.of_ticket}`;
      for (const seq of row.redacts) if (by === null || !redaction.recorded.has(Number(seq))) redaction.recorded.set(Number(seq), by);
    }
    const seq = Number(row.seq);
    const expectedSeq = previous?.tenant === row.tenant_id ? previous.seq + 1 : 1;
    const expectedPrev = previous?.tenant === row.tenant_id ? previous.hash : '0'.repeat(64);
    if (seq !== expectedSeq) report.problems.push(`entry ${seq}: expected seq ${expectedSeq} (entries missing)`);
    if (row.prev_hash !== expectedPrev) report.problems.push(`entry ${seq}: prev_hash does not match the previous entry`);
    if (row.recomputed !== row.hash) report.problems.push(`entry ${seq}: content does not match its hash (tampered)`);
    previous = { tenant: row.tenant_id, seq, hash: row.hash };
  }
  for (const [tenant, { found, recorded }] of redactions) {
    for (const { seq, entity } of found) {
      const by = recorded.get(seq);
      if (by === undefined || (by !== null && by !== entity)) {
        reports.get(tenant)!.problems.push(`entry ${seq}: payload redacted without a recorded erasure or archive deletion`);
      }
    }
  }
  return [...reports.values()];
}

const ZERO_HASH = '0'.repeat(64);

/**
 * Anchors are signed with a key derived from a field-encryption key (HKDF): it lives with the application's
 * secrets, not in the database, so the owner of the database alone cannot forge one.
 */
function anchorSignature(keyring: Map<string, Buffer>, a: Omit<AuditAnchor, 'sig'>): string | null {
  const base = keyring.get(a.kid);
  if (!base) return null;
  const key = Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), 'deskflow audit anchor v1', 32));
  return createHmac('sha256', key)
    .update(JSON.stringify([a.v, a.tenant_id, a.seq, a.hash, a.taken_at, a.kid]))
    .digest('base64url');
}

/** The current head of each tenant's chain (or of one tenant); a tenant that does not exist is absent. */
export async function auditHeads(adminPool: pg.Pool, tenantId?: string): Promise<{ tenant_id: string; seq: number; hash: string }[]> {
  const { rows } = await adminPool.query<{ tenant_id: string; seq: string | null; hash: string | null }>(
    `SELECT t.id AS tenant_id, a.seq, a.hash FROM tenants t
     LEFT JOIN LATERAL (SELECT seq, hash FROM audit_log WHERE tenant_id = t.id ORDER BY seq DESC LIMIT 1) a ON true
     WHERE $1::uuid IS NULL OR t.id = $1 ORDER BY t.id`,
    [tenantId ?? null],
  );
  return rows.map((r) => ({ tenant_id: r.tenant_id, seq: Number(r.seq ?? 0), hash: r.hash ?? ZERO_HASH }));
}

export function signAuditAnchor(fieldEncryptionKeys: string, head: { tenant_id: string; seq: number; hash: string }, now = new Date()): AuditAnchor {
  const keyring = parseKeyring(fieldEncryptionKeys);
  const kid = [...keyring.keys()][0]!;
  const unsigned = { v: 1 as const, tenant_id: head.tenant_id, seq: head.seq, hash: head.hash, taken_at: now.toISOString(), kid };
  return { ...unsigned, sig: anchorSignature(keyring, unsigned)! };
}

/**
 * A signed statement of a tenant's chain head at a point in time. The chain alone cannot show that its newest
 * entries were deleted (what remains is still a valid chain); an anchor kept outside the database can: the
 * entry it names must still be there, with the same hash.
 */
export const AuditAnchor = z
  .object({
    v: z.literal(1),
    tenant_id: z.uuid(),
    /** 0 when the tenant had no entries yet. */
    seq: z.number().int().min(0),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    taken_at: z.iso.datetime(),
    /** The field-encryption key the signing key derives from. */
    kid: z.string().min(1).max(32),
    sig: z.string().min(1).max(100),
  })
  .strict();
export type AuditAnchor = z.infer<typeof AuditAnchor>;

/** Anchors as `audit-head` prints them: one JSON object per line (blank lines ignored). */
export function parseAuditAnchors(text: string): AuditAnchor[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line, i) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new Error(`anchor ${i + 1} is not JSON`);
      }
      const parsed = AuditAnchor.safeParse(json);
      if (!parsed.success) throw new Error(`anchor ${i + 1} is not an audit anchor (${parsed.error.issues[0]?.path.join('.') || 'shape'})`);
      return parsed.data;
    });
}

/**
 * What is wrong with one tenant's chain against its anchors: nothing when each anchor's signature is valid and the
 * newest anchored entry is still there, unchanged. The newest suffices: with the chain intact up to it, its hash
 * fixes every entry before it, so the older anchors hold too.
 */
export async function checkAuditAnchors(adminPool: pg.Pool, fieldEncryptionKeys: string, anchors: AuditAnchor[]): Promise<string[]> {
  const keyring = parseKeyring(fieldEncryptionKeys);
  const problems: string[] = [];
  let newest: AuditAnchor | undefined;
  for (const anchor of anchors) {
    const { sig, ...unsigned } = anchor;
    const expected = anchorSignature(keyring, unsigned);
    const given = Buffer.from(sig);
    if (!expected || given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
      problems.push(`anchor of entry ${anchor.seq} (${anchor.taken_at}): signature invalid (altered, or not signed with this deployment's keys)`);
    } else if (!newest || anchor.seq > newest.seq || (anchor.seq === newest.seq && anchor.taken_at > newest.taken_at)) {
      newest = anchor;
    }
  }
  if (!newest || newest.seq === 0) return problems;
  const { rows } = await adminPool.query<{ hash: string | null; last: string | null }>(
    `SELECT (SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2) AS hash,
            (SELECT max(seq) FROM audit_log WHERE tenant_id = $1) AS last`,
    [newest.tenant_id, newest.seq],
  );
  const { hash, last } = rows[0]!;
  if (hash === null) {
    problems.push(`anchored entry ${newest.seq} (${newest.taken_at}) is missing: the trail ends at entry ${last ?? 0} (entries deleted)`);
  } else if (hash !== newest.hash) {
    problems.push(`entry ${newest.seq}: hash differs from the anchor taken ${newest.taken_at} (the trail was rewritten)`);
  }
  return problems;
}
