/**
 * Deletion of archived tickets after the tenant's `archive_delete_after_years` (issue #14 item 5), a step of the data
 * retention workflow: the tenant setting (validated, audited), a run over tickets of two tenants (only archived ones
 * closed longer ago than their tenant's years, never a held one, never a hot one, never a tenant without the setting),
 * rows and objects gone (hot files an interrupted archival left too), GET and its neighbours answering 404, one audit
 * entry per deletion and the chain still verifying, the deleted ticket's audit entries and webhook events redacted (no
 * subject, description or customer email left; other tickets' untouched), an idempotent re-run, a lifted hold, the narrow door's refusals,
 * and a crash between the commit and the object deletes finished by the sweep.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { archiveDeleter, createArchiveDeletionActivities } from '../../activities/archive-deletion';
import { createTicketRestoreActivities } from '../../activities/ticket-restore';
import { createLogger } from '../../platform/logger';
import type { ObjectStorage } from '../../platform/object-storage';
import { inTenantTransaction, withTenant } from '../../platform/tenant-db';
import { archiveDeletionStore } from '../../stores/archive-deletions';
import { DATA_RETENTION_SCAN_BATCH, OBJECT_DELETION_BATCH, OBJECT_DELETION_GRACE_MS } from '../../workers/data-retention-schedule';
import {
  type ArchiveDeletionStep,
  DATA_RETENTION_WORKFLOW_TYPE,
  type DataRetentionInput,
  type DataRetentionResult,
} from '../../workflows/data-retention-contract';
import { runAdmin } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { archiveNow, type ClosedTicket, closedTicket, hotRows, keysUnder, storageOf } from './support';

const YEAR_DAYS = 366;
let stack: TestStack;
let storage: ObjectStorage;
let acme: Tenant; // deletes archives after 5 years
let globex: Tenant; // no setting: keeps them forever

beforeAll(async () => {
  stack = await startStack();
  storage = storageOf(stack);
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
}, 120_000);

afterAll(async () => {
  await storage?.close();
  await stack?.close();
});

/** One data retention run, with the schedule's input (small archive batches: several activity calls). */
async function runRetention(archiveBatch = 2): Promise<DataRetentionResult> {
  const input: DataRetentionInput = {
    redis: { idempotency_ms: stack.config.IDEMPOTENCY_TTL, session_ms: stack.config.SESSION_TTL, refresh_token_ms: stack.config.REFRESH_TOKEN_TTL },
    scan_batch: DATA_RETENTION_SCAN_BATCH,
    object_deletions: { grace_ms: OBJECT_DELETION_GRACE_MS, batch: OBJECT_DELETION_BATCH },
    archive_deletions: { batch: archiveBatch },
  };
  return stack.temporal.workflow.execute(DATA_RETENTION_WORKFLOW_TYPE, {
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    workflowId: `archive-deletion-test-${randomUUID()}`,
    args: [input],
  }) as Promise<DataRetentionResult>;
}

/** A closed ticket `years` back, archived. */
async function archived(tenant: Tenant, years: number, files = false, subject?: string): Promise<ClosedTicket & { folder: string }> {
  const t = await closedTicket(stack, tenant, { closedDaysAgo: Math.round(years * YEAR_DAYS), files, subject });
  expect(await archiveNow(stack, storage, tenant.id, t.id)).toBe('archived');
  const { rows } = await stack.admin.query<{ location: string }>('SELECT location FROM ticket_archives WHERE ticket_id = $1', [t.id]);
  return { ...t, folder: rows[0]!.location.replace(/ticket\.json$/, '') };
}

const archiveRow = async (ticketId: string) => (await stack.admin.query('SELECT * FROM ticket_archives WHERE ticket_id = $1', [ticketId])).rows[0];
const pendingKeys = async (prefix: string) =>
  (await stack.admin.query<{ storage_key: string }>('SELECT storage_key FROM pending_object_deletions WHERE starts_with(storage_key, $1)', [prefix])).rows.map(
    (r) => r.storage_key,
  );
const deletionAudit = async (tenant: Tenant, ticketId: string) =>
  (
    await http(stack, 'GET', `/api/v1/audit?entity_type=ticket&entity_id=${ticketId}&action=ticket.archive_deleted`, {
      headers: tenant.admin.headers,
    })
  ).body.data;
/** The ticket's audit rows and webhook events as stored (payloads as JSON text), oldest first. */
const ticketTrail = async (ticketId: string) => ({
  audit: (
    await stack.admin.query<{ seq: string; action: string; payload: string; hash: string; redacted: boolean }>(
      `SELECT seq, action, jsonb_build_array(before, after)::text AS payload, hash, redacted_at IS NOT NULL AS redacted
       FROM audit_log WHERE entity_type = 'ticket' AND entity_id = $1 ORDER BY seq`,
      [ticketId],
    )
  ).rows,
  events: (await stack.admin.query<{ type: string; body: string }>('SELECT type, body FROM webhook_events WHERE ticket_id = $1 ORDER BY seq', [ticketId])).rows,
});
const setYears = (tenant: Tenant, years: unknown) =>
  http(stack, 'PATCH', '/api/v1/tenant', { headers: tenant.admin.headers, body: { archive_delete_after_years: years } });

it('the tenant setting: none by default (kept forever), 1 to 100 years, null clears it, anything else a 400 problem; audited', async () => {
  expect((await http(stack, 'GET', '/api/v1/tenant', { headers: acme.admin.headers })).body.archive_delete_after_years).toBeNull();
  for (const bad of [0, 101, 2.5, '5', -1]) {
    const res = await setYears(acme, bad);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code: expect.any(String) });
  }
  expect((await setYears(acme, 7)).body.archive_delete_after_years).toBe(7);
  expect((await setYears(acme, null)).body.archive_delete_after_years).toBeNull();
  const set = await setYears(acme, 5);
  expect(set.status).toBe(200);
  expect(set.body).toMatchObject({ archive_delete_after_years: 5, archive_after_days: null });
  expect((await http(stack, 'GET', '/api/v1/tenant', { headers: acme.admin.headers })).body.archive_delete_after_years).toBe(5);
  // An agent cannot change it.
  expect((await http(stack, 'PATCH', '/api/v1/tenant', { headers: acme.headers, body: { archive_delete_after_years: 1 } })).status).toBe(403);
  const audit = await http(stack, 'GET', '/api/v1/audit?entity_type=tenant&action=tenant.updated', { headers: acme.admin.headers });
  expect(audit.body.data.map((e: { after: Record<string, unknown> }) => e.after)).toContainEqual({ archive_delete_after_years: 5 });
});

describe('a data retention run', () => {
  let old1: ClosedTicket & { folder: string }; // acme, closed 6 years ago, with files, a hot file left by a crash: deleted
  let old2: ClosedTicket & { folder: string }; // acme, closed 6 years ago: deleted
  let held: ClosedTicket & { folder: string }; // acme, closed 8 years ago, under a legal hold: kept
  let young: ClosedTicket & { folder: string }; // acme, closed 4 years ago: kept
  let hot: ClosedTicket; // acme, closed 9 years ago, never archived: kept (deletion is of archives only)
  let foreign: ClosedTicket & { folder: string }; // globex (no setting), closed 20 years ago: kept
  let strayKey: string;
  let email: string; // acme's customer's, in old2's subject (and young's)
  const DESCRIPTION = 'An old question.'; // every test ticket's (support.ts)
  /** Before the run: the subjects, and the trails of two tickets that stay. */
  const subjects = new Map<string, string>();
  let keptBefore: Awaited<ReturnType<typeof ticketTrail>>[];

  beforeAll(async () => {
    email = (await http(stack, 'GET', `/api/v1/customers/${acme.customerId}`, { headers: acme.admin.headers })).body.email;
    expect(email).toMatch(/@example\.com$/);
    old1 = await archived(acme, 6, true);
    old2 = await archived(acme, 6, false, `Refund to ${email} ${randomUUID()}`);
    held = await archived(acme, 8);
    young = await archived(acme, 4, false, `Refund to ${email} ${randomUUID()}`);
    hot = await closedTicket(stack, acme, { closedDaysAgo: 9 * YEAR_DAYS, files: false });
    foreign = await archived(globex, 20);
    const hold = await http(stack, 'PUT', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'Case 2026-9' } });
    expect(hold.status).toBe(200);
    // A hot file an archival that died after its commit left behind (its purge not done): it goes with the archive.
    strayKey = `attachments/${acme.id}/${old1.id}/${randomUUID()}`;
    await storage.put(strayKey, Readable.from([Buffer.from('left behind')]), { contentType: 'text/plain' });
    await stack.admin.query('UPDATE ticket_archives SET source_keys = $2, sources_purged_at = NULL WHERE ticket_id = $1', [old1.id, [strayKey]]);
    for (const t of [old1, old2, young, foreign]) subjects.set(t.id, (await archiveRow(t.id)).subject);
    // What the deletion must remove is there: each subject in its ticket's audit entries and webhook events.
    for (const t of [old1, old2]) {
      const trail = await ticketTrail(t.id);
      expect(trail.audit.some((a) => a.payload.includes(subjects.get(t.id)!))).toBe(true);
      expect(trail.events.some((e) => e.body.includes(subjects.get(t.id)!))).toBe(true);
    }
    expect((await ticketTrail(old2.id)).audit.some((a) => a.payload.includes(email))).toBe(true);
    keptBefore = [await ticketTrail(young.id), await ticketTrail(foreign.id)];
  }, 180_000);

  it('deletes the archives closed longer ago than their tenant says, rows and objects, and only those', async () => {
    expect((await keysUnder(storage, old1.folder)).length).toBe(4); // the document and three files
    const result = await runRetention();
    expect(result).toMatchObject({ archives_deleted: 2, archives_failed: 0 });

    for (const t of [old1, old2]) {
      expect(await archiveRow(t.id)).toBeUndefined();
      expect(await keysUnder(storage, t.folder)).toEqual([]);
      expect(await pendingKeys(t.folder)).toEqual([]); // deleted at once, then forgotten
      expect(await hotRows(stack, t.id)).toEqual({ tickets: 0, messages: 0, events: 0, sla: 0, attachments: 0 });
    }
    expect(await storage.head(strayKey)).toBeNull();
    expect(await pendingKeys(`attachments/${acme.id}/${old1.id}/`)).toEqual([]);

    // Kept: the held one, the young one, the other tenant's (no setting), each with its objects; the hot one.
    for (const [tenant, t] of [
      [acme, held],
      [acme, young],
      [globex, foreign],
    ] as const) {
      expect(await archiveRow(t.id)).toMatchObject({ state: 'archived' });
      expect(await keysUnder(storage, t.folder)).toEqual([`${t.folder}ticket.json`]);
      expect((await http(stack, 'GET', `/api/v1/tickets/${t.id}`, { headers: tenant.headers })).status).toBe(200);
    }
    expect((await hotRows(stack, hot.id)).tickets).toBe(1);
    expect((await http(stack, 'GET', `/api/v1/tickets/${hot.id}`, { headers: acme.headers })).body.status).toBe('closed');
  });

  it('a deleted ticket is gone: GET, its archive, its hold and a restore all answer 404', async () => {
    const res = await http(stack, 'GET', `/api/v1/tickets/${old1.id}`, { headers: acme.headers });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, code: 'not_found' });
    expect((await http(stack, 'GET', `/api/v1/tickets/${old1.id}/archive`, { headers: acme.headers })).status).toBe(404);
    expect((await http(stack, 'GET', `/api/v1/tickets/${old1.id}/legal-hold`, { headers: acme.headers })).status).toBe(404);
    expect((await http(stack, 'PUT', `/api/v1/tickets/${old1.id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'late' } })).status).toBe(404);
    expect((await http(stack, 'POST', `/api/v1/tickets/${old1.id}/restore`, { headers: acme.admin.headers })).status).toBe(404);
    // Its files too.
    for (const f of old1.files) expect((await http(stack, 'GET', `/api/v1/attachments/${f.id}`, { headers: acme.headers })).status).toBe(404);
  });

  it('one audit entry per deletion, without the subject, and every audit chain still verifies', async () => {
    for (const t of [old1, old2]) {
      const entries = await deletionAudit(acme, t.id);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        actor: { type: 'system', id: 'data-retention' },
        before: { location: `${t.folder}ticket.json`, generation: 1 },
        after: { delete_after_years: 5, objects: t === old1 ? 5 : 1 },
      });
      expect(JSON.stringify(entries[0])).not.toContain('Archive me');
    }
    // Nothing of a deleted ticket's content is left in its audit entries or webhook events: the subject, the
    // description, the customer's email and name.
    for (const t of [old1, old2]) {
      const trail = await ticketTrail(t.id);
      const needles = [subjects.get(t.id)!, DESCRIPTION, email, 'Ada Customer', 'billing'];
      for (const text of [...trail.audit.map((a) => a.payload), ...trail.events.map((e) => e.body)]) {
        for (const needle of needles) expect(text.toLowerCase()).not.toContain(needle.toLowerCase());
      }
      expect(trail.events.length).toBeGreaterThan(0); // the feed keeps the events, without content
      // The entries that held content are redacted (the chain keeps their digest), recorded by the deletion's entry;
      // the codes stay (which status the ticket went through), and the deletion's own entry is as written.
      const redacted = trail.audit.filter((a) => a.redacted).map((a) => Number(a.seq));
      expect(redacted.length).toBeGreaterThan(0);
      const [deletion] = await deletionAudit(acme, t.id);
      expect(deletion.after).toMatchObject({ redacted_seqs: redacted, legacy_audit_entries_kept: 0, webhook_events_redacted: trail.events.length });
      expect(trail.audit.find((a) => a.action === 'ticket.archive_deleted')).toMatchObject({ redacted: false });
      expect(trail.audit.find((a) => a.action === 'ticket.archived')).toMatchObject({ redacted: false }); // no content: untouched
      const created = trail.audit.find((a) => a.action === 'ticket.created')!;
      expect(created.redacted).toBe(true);
      expect(JSON.parse(created.payload)[1]).toMatchObject({ subject: '[deleted]', status: 'new', customer_id: acme.customerId, tags: ['[deleted]'] });
    }
    // Other tickets' entries and events are untouched (the kept ones of both tenants).
    expect([await ticketTrail(young.id), await ticketTrail(foreign.id)]).toEqual(keptBefore);
    expect(keptBefore[0]!.audit.some((a) => a.payload.includes(email))).toBe(true);
    // Each of this suite's tenants by name: the shared test database also holds other suites' tenants, some of whose
    // chains are broken on purpose (the audit and admin CLI tests).
    for (const tenant of [acme, globex]) {
      const verify = await runAdmin(['verify-audit', '--tenant', tenant.id]);
      expect({ code: verify.code, err: verify.err }).toEqual({ code: 0, err: expect.any(String) });
      expect(verify.out).toMatch(new RegExp(`${tenant.id}: \\d+ entries, intact`));
    }
  });

  it('a second run deletes nothing and repeats nothing', async () => {
    const again = await runRetention();
    expect(again).toMatchObject({ archives_deleted: 0, archives_failed: 0 });
    for (const t of [old1, old2]) expect(await deletionAudit(acme, t.id)).toHaveLength(1);
    for (const t of [held, young, foreign]) expect(await archiveRow(t.id)).toMatchObject({ state: 'archived' });
  });

  it('lifting the hold lets the next run delete the ticket; the lifted hold goes with it', async () => {
    expect((await http(stack, 'DELETE', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.admin.headers })).status).toBe(204);
    expect((await runRetention()).archives_deleted).toBe(1);
    expect(await archiveRow(held.id)).toBeUndefined();
    expect(await keysUnder(storage, held.folder)).toEqual([]);
    expect((await stack.admin.query('SELECT 1 FROM ticket_legal_holds WHERE ticket_id = $1', [held.id])).rowCount).toBe(0);
    expect(await deletionAudit(acme, held.id)).toHaveLength(1);
    // The rest as it was.
    expect(await archiveRow(young.id)).toMatchObject({ state: 'archived' });
    expect(await archiveRow(foreign.id)).toMatchObject({ state: 'archived' });
  });

  it('a tenant that lowers its years has its archives deleted by the next run', async () => {
    expect((await setYears(acme, 3)).status).toBe(200);
    expect((await runRetention()).archives_deleted).toBe(1);
    expect(await archiveRow(young.id)).toBeUndefined();
    expect(await archiveRow(foreign.id)).toMatchObject({ state: 'archived' });
    await setYears(acme, 5);
  });
});

it('a ticket whose customer was erased first keeps none of its content once its archive is deleted (redacted again)', async () => {
  const erased = await createTenant(stack, 'ErasedThenDeleted');
  const t = await archived(erased, 6);
  const erase = await http(stack, 'POST', `/api/v1/customers/${erased.customerId}/erase`, { headers: erased.admin.headers });
  expect(erase.status).toBe(200);
  // The erasure took the customer's words and identifiers; the rest of the ticket's content is still in its entries.
  const before = await ticketTrail(t.id);
  const erasedSeqs = before.audit.filter((a) => a.redacted).map((a) => Number(a.seq));
  expect(erasedSeqs.length).toBeGreaterThan(0);
  const leftovers = ['billing', 'Here is your invoice', 'Refund approved by finance'];
  expect(before.audit.some((a) => a.redacted && leftovers.some((l) => a.payload.includes(l)))).toBe(true);

  expect((await setYears(erased, 5)).status).toBe(200);
  expect(await runRetention()).toMatchObject({ archives_failed: 0 });
  expect(await archiveRow(t.id)).toBeUndefined();

  const after = await ticketTrail(t.id);
  for (const a of after.audit) for (const l of leftovers) expect(a.payload).not.toContain(l);
  // The same entries (and their hashes: the chain is untouched), each redacted, and recorded by the deletion.
  expect(after.audit.filter((a) => a.action !== 'ticket.archive_deleted').map((a) => [a.seq, a.hash])).toEqual(before.audit.map((a) => [a.seq, a.hash]));
  const [deletion] = await deletionAudit(erased, t.id);
  expect(deletion.after.redacted_seqs).toEqual(expect.arrayContaining(erasedSeqs));
  const created = after.audit.find((a) => a.action === 'ticket.created')!;
  expect(JSON.parse(created.payload)[1]).toMatchObject({ subject: '[deleted]', tags: ['[deleted]'] });
  const verify = await runAdmin(['verify-audit', '--tenant', erased.id]);
  expect({ code: verify.code, out: verify.out }).toEqual({
    code: 0,
    out: expect.stringMatching(new RegExp(`${erased.id}: \\d+ entries, intact`)),
  });
}, 120_000);

describe('the narrow door (archive_delete_ticket)', () => {
  const deletions = () => archiveDeletionStore(stack.pool);
  const candidate = async (ticketId: string) => {
    const { rows } = await stack.admin.query('SELECT tenant_id, ticket_id, generation, location FROM ticket_archives WHERE ticket_id = $1', [ticketId]);
    return rows[0] as { tenant_id: string; ticket_id: string; generation: number; location: string };
  };

  it('the application role cannot delete archives itself, nor call the door without a tenant', async () => {
    const t = await archived(acme, 6);
    await expect(
      withTenant(stack.pool, acme.id, (db) => db.query('DELETE FROM ticket_archives WHERE tenant_id = $1 AND ticket_id = $2', [acme.id, t.id])),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(stack.pool.query('SELECT archive_delete_ticket($1, 1, $2::text[])', [t.id, []])).rejects.toMatchObject({ code: '42501' });
    // Another tenant's ticket is not there for it.
    expect(await deletions().deleteArchive({ tenant_id: globex.id, ticket_id: t.id, generation: 1 }, [])).toEqual({ outcome: 'gone', storage_keys: [] });
    expect(await archiveRow(t.id)).toMatchObject({ state: 'archived' });
  });

  it('checks again what the listing saw: the generation, the setting, the age, a hold', async () => {
    const t = await candidate((await archived(acme, 6)).id);
    expect((await deletions().deleteArchive({ ...t, generation: t.generation + 1 }, [])).outcome).toBe('changed');
    await setYears(acme, 10);
    expect((await deletions().deleteArchive(t, [])).outcome).toBe('not_due');
    await setYears(acme, null);
    expect((await deletions().deleteArchive(t, [])).outcome).toBe('kept');
    await setYears(acme, 5);
    await http(stack, 'PUT', `/api/v1/tickets/${t.ticket_id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'held' } });
    expect((await deletions().deleteArchive(t, [])).outcome).toBe('legal_hold');
    await http(stack, 'DELETE', `/api/v1/tickets/${t.ticket_id}/legal-hold`, { headers: acme.admin.headers });
    expect(await archiveRow(t.ticket_id)).toMatchObject({ state: 'archived' });
    // A restored ticket is hot: never deleted here.
    expect((await http(stack, 'POST', `/api/v1/tickets/${t.ticket_id}/restore`, { headers: acme.admin.headers })).status).toBe(200);
    expect((await deletions().deleteArchive(t, [])).outcome).toBe('restored');
    expect((await hotRows(stack, t.ticket_id)).tickets).toBe(1);
  });

  it("takes only keys of the ticket's own folder: another ticket's objects named by the caller are left alone", async () => {
    const t = await candidate((await archived(acme, 6)).id);
    const other = await archived(globex, 6);
    const otherKey = `${other.folder}ticket.json`;
    const done = await deletions().deleteArchive(t, [otherKey, `${t.location}/../x`, `attachments/${acme.id}/${randomUUID()}/f`]);
    expect(done).toEqual({ outcome: 'deleted', storage_keys: [t.location] });
    expect(await pendingKeys(otherKey)).toEqual([]);
    await archiveDeleter({ pool: stack.pool, storage }).deleteOne(t); // gone already: nothing more happens
    expect(await storage.head(otherKey)).not.toBeNull();
    // The document of the deleted one is pending (this test called the door alone): the sweep's, below.
    expect(await pendingKeys(t.location)).toEqual([t.location]);
  });

  it('a crash between the commit and the deletes leaves keys pending, never a row without its document: the sweep deletes them', async () => {
    const t = await candidate((await archived(acme, 6, true)).id);
    const folder = t.location.replace(/ticket\.json$/, '');
    const keys = await keysUnder(storage, folder);
    expect(keys).toHaveLength(4);
    // The transaction commits; the worker dies before deleting anything.
    const done = await deletions().deleteArchive(t, keys);
    expect(done.outcome).toBe('deleted');
    expect(done.storage_keys.sort()).toEqual(keys.sort());
    expect(await archiveRow(t.ticket_id)).toBeUndefined();
    expect((await http(stack, 'GET', `/api/v1/tickets/${t.ticket_id}`, { headers: acme.headers })).status).toBe(404);
    expect((await keysUnder(storage, folder)).sort()).toEqual(keys.sort());
    expect((await pendingKeys(folder)).sort()).toEqual(keys.sort());
    // Past the sweep's grace, the next run deletes them and forgets the keys.
    await stack.admin.query(
      `UPDATE pending_object_deletions SET created_at = now() - interval '1 hour' WHERE starts_with(storage_key, $1) OR storage_key LIKE 'archive/' || $2 || '/%'`,
      [folder, acme.id],
    );
    await runRetention();
    expect(await keysUnder(storage, folder)).toEqual([]);
    expect(await pendingKeys(folder)).toEqual([]);
    expect(await pendingKeys(`archive/${acme.id}/`)).toEqual([]);
  });

  it('one transaction: a failure after the door leaves the archive as it was', async () => {
    const t = await candidate((await archived(acme, 6)).id);
    await expect(
      inTenantTransaction(stack.pool, acme.id, async (db) => {
        await db.query('SELECT archive_delete_ticket($1, $2, $3::text[])', [t.ticket_id, t.generation, []]);
        throw new Error('worker died');
      }),
    ).rejects.toThrow('worker died');
    expect(await archiveRow(t.ticket_id)).toMatchObject({ state: 'archived' });
    expect(await pendingKeys(t.location)).toEqual([]);
    expect(await deletionAudit(acme, t.ticket_id)).toHaveLength(0);
  });
});

describe('the activity', () => {
  it('heartbeats after every archive, and a retry resumes after the last one the previous attempt finished', async () => {
    const initech = await createTenant(stack, 'Initech');
    expect((await setYears(initech, 2)).status).toBe(200);
    const tickets = [await archived(initech, 3), await archived(initech, 3), await archived(initech, 3)];
    const first = (
      await stack.admin.query<{ closed_at: string }>(
        `SELECT to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS closed_at FROM ticket_archives WHERE ticket_id = $1`,
        [tickets[0]!.id],
      )
    ).rows[0]!.closed_at;
    // What an attempt that died after the first archive had heartbeated (the first one is left here, to show it is skipped).
    const resumed: ArchiveDeletionStep = { examined: 1, deleted: 1, skipped: 0, failed: 0, after: { closed_at: first, ticket_id: tickets[0]!.id } };
    const env = new MockActivityEnvironment({ heartbeatDetails: resumed });
    const beats: ArchiveDeletionStep[] = [];
    env.on('heartbeat', (d: ArchiveDeletionStep) => beats.push(structuredClone(d)));
    const { deleteExpiredArchives } = createArchiveDeletionActivities({ pool: stack.pool, storage });
    const step = await env.run(deleteExpiredArchives, { after: null, limit: 3 });
    expect(step).toEqual({ examined: 3, deleted: 3, skipped: 0, failed: 0, after: { closed_at: expect.any(String), ticket_id: tickets[2]!.id } });
    expect(beats.map((b) => b.after?.ticket_id)).toEqual([tickets[1]!.id, tickets[2]!.id]);
    expect(await archiveRow(tickets[0]!.id)).toMatchObject({ state: 'archived' });
    for (const t of tickets.slice(1)) {
      expect(await archiveRow(t.id)).toBeUndefined();
      expect(await keysUnder(storage, t.folder)).toEqual([]);
    }
    await setYears(initech, null); // the one left behind stays out of later runs
  });
});

it('a restore that was reading the archive when it was deleted ends as not archived, and drops the files it copied back', async () => {
  expect((await setYears(acme, 5)).status).toBe(200);
  const t = await archived(acme, 6, true);
  const { rows } = await stack.admin.query('SELECT tenant_id, ticket_id, generation, location FROM ticket_archives WHERE ticket_id = $1', [t.id]);
  const row = rows[0] as { tenant_id: string; ticket_id: string; generation: number; location: string };
  const keys = await keysUnder(storage, t.folder);
  // The deletion commits the moment the restore reads the document (its objects still there: they go after the commit).
  let fired = false;
  const copiedBack: string[] = [];
  const racing = new Proxy(storage, {
    get(target, prop) {
      if (prop === 'put') {
        return (key: string, ...rest: Parameters<ObjectStorage['put']> extends [string, ...infer R] ? R : never) => {
          if (key.startsWith(`attachments/${acme.id}/`)) copiedBack.push(key);
          return target.put(key, ...rest);
        };
      }
      if (prop === 'get') {
        return async (key: string) => {
          if (key === row.location && !fired) {
            fired = true;
            expect((await archiveDeletionStore(stack.pool).deleteArchive(row, keys)).outcome).toBe('deleted');
          }
          return target.get(key);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const { restoreArchivedTicket } = createTicketRestoreActivities({ pool: stack.pool, storage: racing, log: createLogger(stack.config, 'test') });
  const result = await new MockActivityEnvironment().run(restoreArchivedTicket, {
    tenant_id: acme.id,
    ticket_id: t.id,
    actor: { type: 'agent' as const, id: acme.admin.id },
  });
  expect(fired).toBe(true);
  expect(copiedBack).toHaveLength(3); // the files were copied back before the restore's transaction found no archive
  expect(result).toEqual({ outcome: 'not_archived' });
  expect(await keysUnder(storage, `attachments/${acme.id}/${t.id}/`)).toEqual([]);
  expect(await hotRows(stack, t.id)).toEqual({ tickets: 0, messages: 0, events: 0, sla: 0, attachments: 0 });
  expect(await archiveRow(t.id)).toBeUndefined();
  expect((await http(stack, 'POST', `/api/v1/tickets/${t.id}/restore`, { headers: acme.admin.headers })).status).toBe(404);
});
