/**
 * Archival of closed tickets (issue #14 items 3 and 4) on a stack of its own (database, queues, worker process, API):
 * the schedule, a run over tickets of two tenants (only closed ones past their tenant's age, never a held one), the
 * export read back over HTTP and from object storage (local backend), the hot rows gone and the metadata answering,
 * `ticket.archived` in the feed, on the live bus and in the audit trail, tenant isolation, the narrow delete door,
 * legal holds, restore (exactly as it was, closed and read-only), archiving a restored ticket again, and replay of
 * the runs' histories. The S3 backend: archival-s3.test.ts; a worker killed mid-batch: archival-crash.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { archivalScheduleId } from '../../domain/archive';
import { WEBHOOK_EVENTS } from '../../domain/webhooks';
import type { ObjectStorage } from '../../platform/object-storage';
import { withTenant } from '../../platform/tenant-db';
import { type LiveTestClient, connectLive } from '../live/support';
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { runAdmin } from '../support/processes';
import { createTenant, http, type Tenant, type TestStack } from '../support/stack';
import { type Recorded, record, replayAll, saveRecorded } from '../workflows/replay-support';
import { type ClosedTicket, closedTicket, hotRows, keysUnder, objectSha, runArchival, sha256, storageOf, ticketView } from './support';

let iso: IsolatedStack;
let stack: TestStack;
let storage: ObjectStorage;
let objectsDir: string;
let acme: Tenant;
let globex: Tenant;
let live: LiveTestClient;
const recorded: Recorded[] = [];

// The tickets of the first run, and what an agent saw of each before it.
let t1: ClosedTicket; // closed 100 days ago, with files: archived
let t2: ClosedTicket; // closed 95 days ago, no files: archived
let young: ClosedTicket; // closed 10 days ago: stays
let held: ClosedTicket; // closed 120 days ago, under a legal hold: stays
let g1: ClosedTicket; // globex (archive age 5 days), closed 10 days ago: archived
let g2: ClosedTicket; // globex, closed 2 days ago: stays
let pendingId: string; // opened long ago and left pending, never closed: stays
let before: Awaited<ReturnType<typeof ticketView>>;

beforeAll(async () => {
  objectsDir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-archival-'));
  iso = await startIsolatedStack('archival', {
    OBJECT_STORAGE: 'local',
    OBJECT_STORAGE_DIR: objectsDir,
    ARCHIVE_STORAGE_CLASS: 'STANDARD_IA',
    ARCHIVE_BATCH_SIZE: '2',
  });
  stack = iso.stack;
  storage = storageOf(stack);
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  // An SLA policy, so archived tickets carry an SLA record.
  const policy = await http(stack, 'POST', '/api/v1/sla-policies', {
    headers: acme.admin.headers,
    body: { name: 'Standard', position: 10, targets: { normal: { first_reply: 600, resolution: 6000 } } },
  });
  expect(policy.status).toBe(201);
  live = await connectLive(stack, acme.admin.token);
}, 180_000);

afterAll(async () => {
  saveRecorded(recorded);
  live?.close();
  await storage?.close();
  await iso?.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

const archiveRow = async (ticketId: string) =>
  (await stack.admin.query('SELECT state, generation, location, sha256, sources_purged_at FROM ticket_archives WHERE ticket_id = $1', [ticketId])).rows[0];
const noticesOf = async (ticketId: string, type: string) =>
  (await stack.admin.query('SELECT id, body FROM webhook_events WHERE ticket_id = $1 AND type = $2 ORDER BY seq', [ticketId, type])).rows;

it('the worker keeps a schedule: the configured cron (daily), overlapping runs skipped, a catch-up window', async () => {
  const schedule = await stack.temporal.schedule.getHandle(archivalScheduleId(stack.config.TEMPORAL_TASK_QUEUE)).describe();
  expect(schedule.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 24 * 60 * 60 * 1000 });
  expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'archivalWorkflow', taskQueue: stack.config.TEMPORAL_TASK_QUEUE });
  // ARCHIVE_CRON's default, 0 2 * * *: the next runs are 02:00 UTC, a day apart.
  const [next, after] = schedule.info.nextActionTimes;
  expect([next!.getUTCHours(), next!.getUTCMinutes(), next!.getUTCSeconds()]).toEqual([2, 0, 0]);
  expect(after!.getTime() - next!.getTime()).toBe(24 * 60 * 60 * 1000);
});

it("archives the closed tickets past their tenant's age, and only those", async () => {
  t1 = await closedTicket(stack, acme, { closedDaysAgo: 100 });
  t2 = await closedTicket(stack, acme, { closedDaysAgo: 95, files: false });
  young = await closedTicket(stack, acme, { closedDaysAgo: 10, files: false });
  held = await closedTicket(stack, acme, { closedDaysAgo: 120, files: false });
  const hold = await http(stack, 'PUT', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'Case 2026-117' } });
  expect(hold.status).toBe(200);
  // Not closed (a solved one would close by itself after TICKET_AUTO_CLOSE_AFTER): pending, and untouched for long.
  const pending = await http(stack, 'POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: 'Waiting', description: 'd', customer_id: acme.customerId },
  });
  pendingId = pending.body.id;
  expect((await http(stack, 'PATCH', `/api/v1/tickets/${pendingId}`, { headers: acme.headers, body: { status: 'pending' } })).status).toBe(200);
  await stack.admin.query(`UPDATE tickets SET created_at = now() - interval '200 days', updated_at = now() - interval '200 days' WHERE id = $1`, [pendingId]);
  const age = await http(stack, 'PATCH', '/api/v1/tenant', { headers: globex.admin.headers, body: { archive_after_days: 5 } });
  expect(age.body.archive_after_days).toBe(5);
  g1 = await closedTicket(stack, globex, { closedDaysAgo: 10, files: false });
  g2 = await closedTicket(stack, globex, { closedDaysAgo: 2, files: false });
  before = await ticketView(stack, acme.headers, t1.id);
  expect(before.ticket.sla).not.toBeNull();

  const run = await runArchival(stack);
  recorded.push(await record(stack.temporal, 'archival-run', run.workflowId));
  expect(run.totals).toMatchObject({ archived: 3, failed: 0, failures: [] });

  for (const t of [t1, t2, g1]) expect(await hotRows(stack, t.id)).toEqual({ tickets: 0, messages: 0, events: 0, sla: 0, attachments: 0 });
  for (const id of [young.id, held.id, g2.id, pendingId]) expect((await hotRows(stack, id)).tickets).toBe(1);
  for (const t of [t1, t2, g1]) expect(await archiveRow(t.id)).toMatchObject({ state: 'archived', generation: 1, sources_purged_at: expect.any(String) });

  // The metadata answers for the ticket, under the same ETag.
  const meta = await http(stack, 'GET', `/api/v1/tickets/${t1.id}`, { headers: acme.headers });
  expect(meta.status).toBe(200);
  expect(meta.headers.get('etag')).toBe(`"${before.ticket.version}"`);
  expect(meta.body).toMatchObject({
    id: t1.id,
    status: 'closed',
    subject: before.ticket.subject,
    version: before.ticket.version,
    tags: ['billing'],
    archived_at: expect.any(String),
    legal_hold: false,
    archive: { messages: before.messages.length, attachments: 3, storage_class: 'STANDARD_IA', href: `/api/v1/tickets/${t1.id}/archive` },
  });
  expect(new Date(meta.body.closed_at).getTime()).toBeLessThan(Date.now() - 99 * 24 * 3600 * 1000);
  expect((await http(stack, 'GET', `/api/v1/tickets/${t1.id}`, { headers: { ...acme.headers, 'If-None-Match': `"${before.ticket.version}"` } })).status).toBe(
    304,
  );

  // The document, streamed: its bytes are what the metadata's SHA-256 says, and it holds everything the agent saw.
  const res = await fetch(`${stack.url}/api/v1/tickets/${t1.id}/archive`, { headers: acme.headers });
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(sha256(bytes)).toBe(meta.body.archive.sha256);
  expect(bytes.length).toBe(meta.body.archive.size);
  expect(res.headers.get('etag')).toBe(`"${meta.body.archive.sha256}"`);
  expect(res.headers.get('repr-digest')).toBe(`sha-256=:${Buffer.from(meta.body.archive.sha256, 'hex').toString('base64')}:`);
  const doc = JSON.parse(bytes.toString('utf8'));
  expect(doc).toMatchObject({ format: 'deskflow.ticket-archive.v1', tenant_id: acme.id, ticket_id: t1.id, ticket_version: before.ticket.version });
  expect(doc.messages.map((m: { id: string; body: string; visibility: string }) => [m.id, m.body, m.visibility])).toEqual(
    before.messages.map((m) => [m.id, m.body, m.visibility]),
  );
  expect(doc.timeline.map((e: { version: number; type: string }) => [e.version, e.type])).toEqual(before.events.map((e) => [e.version, e.type]));
  expect(doc.sla.state).toEqual(before.ticket.sla);
  expect(doc.sla.metrics.length).toBeGreaterThan(0);
  expect(doc.audit.map((a: { action: string }) => a.action)).toContain('ticket.created');
  const folder = `archive/${acme.id}/${meta.body.closed_at.slice(0, 4)}/${meta.body.closed_at.slice(5, 7)}/${t1.id}/`;
  expect(meta.body.archive.location).toBe(`${folder}ticket.json`);
  expect(doc.attachments.map((a: { id: string; sha256: string; archive_key: string }) => [a.id, a.sha256, a.archive_key]).sort()).toEqual(
    t1.files.map((f) => [f.id, f.sha256, `${folder}attachments/${f.id}`]).sort(),
  );
  // A second read gets the same bytes (and 304 on its ETag).
  expect(
    (await http(stack, 'GET', `/api/v1/tickets/${t1.id}/archive`, { headers: { ...acme.headers, 'If-None-Match': `"${meta.body.archive.sha256}"` } })).status,
  ).toBe(304);

  // In object storage: the document and each file under the ticket's folder, in the archive's storage class; the hot files gone.
  expect((await keysUnder(storage, folder)).sort()).toEqual([...t1.files.map((f) => `${folder}attachments/${f.id}`), `${folder}ticket.json`].sort());
  for (const f of t1.files) {
    expect(await objectSha(storage, `${folder}attachments/${f.id}`)).toBe(f.sha256);
    expect((await storage.head(`${folder}attachments/${f.id}`))?.storageClass).toBe('STANDARD_IA');
    expect(await storage.head(`attachments/${acme.id}/${t1.id}/${f.id}`)).toBeNull();
  }
  expect((await storage.head(`${folder}ticket.json`))?.storageClass).toBe('STANDARD_IA');
  expect(await keysUnder(storage, `attachments/${acme.id}/${t1.id}/`)).toEqual([]);

  // ticket.archived: once per ticket, in the catalog's shape, in the feed, on the live bus, in the audit trail.
  for (const t of [t1, t2, g1]) {
    const notices = await noticesOf(t.id, 'ticket.archived');
    expect(notices).toHaveLength(1);
    const body = JSON.parse(notices[0].body);
    expect(WEBHOOK_EVENTS['ticket.archived'].payload.safeParse(body.data).error).toBeUndefined();
  }
  const feed = await http(stack, 'GET', '/api/v1/events?limit=100', { headers: acme.admin.headers });
  expect(
    feed.body.data
      .filter((e: { type: string }) => e.type === 'ticket.archived')
      .map((e: { data: { ticket_id: string } }) => e.data.ticket_id)
      .sort(),
  ).toEqual([t1.id, t2.id].sort());
  await live.waitFor((m) => m.type === 'event' && m.event.type === 'ticket.archived' && m.event.data.ticket_id === t1.id);
  const audit = await http(stack, 'GET', `/api/v1/audit?entity_type=ticket&entity_id=${t1.id}&action=ticket.archived`, { headers: acme.admin.headers });
  expect(audit.body.data).toHaveLength(1);

  // What needs the hot rows says it is closed (or gone), never that nothing was there to archive.
  expect((await http(stack, 'GET', `/api/v1/tickets/${t1.id}/messages`, { headers: acme.headers })).status).toBe(404);
  const patch = await http(stack, 'PATCH', `/api/v1/tickets/${t1.id}`, { headers: acme.headers, body: { priority: 'high' } });
  expect({ status: patch.status, code: patch.body.code }).toEqual({ status: 422, code: 'ticket_closed' });

  // A second run finds nothing to do and repeats nothing.
  const again = await runArchival(stack);
  expect(again.totals).toMatchObject({ archived: 0, failed: 0 });
  for (const t of [t1, t2, g1]) expect(await noticesOf(t.id, 'ticket.archived')).toHaveLength(1);
}, 240_000);

it('another tenant can neither read nor restore nor hold an archive; the delete door is narrow', async () => {
  for (const [method, suffix, body] of [
    ['GET', '', undefined],
    ['GET', '/archive', undefined],
    ['POST', '/restore', undefined],
    ['GET', '/legal-hold', undefined],
    ['PUT', '/legal-hold', { reason: 'mine now' }],
    ['DELETE', '/legal-hold', undefined],
  ] as const) {
    const res = await http(stack, method, `/api/v1/tickets/${t1.id}${suffix}`, { headers: globex.admin.headers, body });
    expect({ method, suffix, status: res.status }).toEqual({ method, suffix, status: 404 });
  }
  expect(await archiveRow(t1.id)).toMatchObject({ state: 'archived' });
  expect((await stack.admin.query('SELECT count(*)::int AS n FROM ticket_legal_holds WHERE ticket_id = $1', [t1.id])).rows[0].n).toBe(0);

  // The application role: no archive rows without a tenant, no DELETE, and the door removes only what it must.
  expect((await stack.pool.query('SELECT count(*)::int AS n FROM ticket_archives')).rows[0].n).toBe(0);
  await expect(stack.pool.query('DELETE FROM tickets WHERE id = $1', [young.id])).rejects.toThrow(/permission denied/);
  await expect(stack.pool.query('SELECT archive_remove_hot_ticket($1)', [young.id])).rejects.toThrow(/app.tenant_id/);
  const door = (tenantId: string, ticketId: string) =>
    withTenant(stack.pool, tenantId, async (db) => (await db.query<{ o: string }>('SELECT archive_remove_hot_ticket($1) AS o', [ticketId])).rows[0]!.o);
  expect(await door(globex.id, young.id)).toBe('not_closed'); // another tenant's ticket does not exist for it
  expect(await door(acme.id, young.id)).toBe('not_verified'); // no verified archive recorded
  expect(await door(acme.id, held.id)).toBe('legal_hold');
  expect(await door(acme.id, pendingId)).toBe('not_closed');
  for (const id of [young.id, held.id, pendingId]) expect((await hotRows(stack, id)).tickets).toBe(1);
});

it('a legal hold is set, read and audited; lifted, the ticket is archived by the next run; it covers archived tickets too', async () => {
  const read = await http(stack, 'GET', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.headers });
  expect(read.body).toMatchObject({ ticket_id: held.id, held: true, reason: 'Case 2026-117', changed_by: { type: 'agent', id: acme.admin.id } });
  expect((await http(stack, 'DELETE', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.headers })).status).toBe(403); // agents cannot
  const audit = await http(stack, 'GET', `/api/v1/audit?entity_type=ticket&entity_id=${held.id}&action=ticket.legal_hold_set`, { headers: acme.admin.headers });
  expect(audit.body.data).toHaveLength(1);
  expect(audit.body.data[0]).toMatchObject({ before: { held: false }, after: { held: true, reason: 'Case 2026-117' } });

  // A hold on an archived ticket: its metadata says so (nothing may delete the archive).
  const onArchive = await http(stack, 'PUT', `/api/v1/tickets/${t2.id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'Audit request' } });
  expect(onArchive.body).toMatchObject({ held: true, reason: 'Audit request' });
  expect((await http(stack, 'GET', `/api/v1/tickets/${t2.id}`, { headers: acme.headers })).body.legal_hold).toBe(true);

  expect((await http(stack, 'DELETE', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.admin.headers })).status).toBe(204);
  expect((await http(stack, 'GET', `/api/v1/tickets/${held.id}/legal-hold`, { headers: acme.headers })).body).toMatchObject({ held: false, reason: null });
  const lifted = await http(stack, 'GET', `/api/v1/audit?entity_type=ticket&entity_id=${held.id}&action=ticket.legal_hold_released`, {
    headers: acme.admin.headers,
  });
  expect(lifted.body.data).toHaveLength(1);
  const run = await runArchival(stack);
  expect(run.totals).toMatchObject({ archived: 1, failed: 0 });
  expect(await archiveRow(held.id)).toMatchObject({ state: 'archived' });
}, 120_000);

it('restore: an admin brings the ticket back exactly as it was, closed and read-only; archived again later, in place', async () => {
  const byAgent = await http(stack, 'POST', `/api/v1/tickets/${t1.id}/restore`, { headers: acme.headers });
  expect(byAgent.status).toBe(403);
  const restored = await http(stack, 'POST', `/api/v1/tickets/${t1.id}/restore`, { headers: acme.admin.headers });
  expect(restored.status).toBe(200);
  expect(restored.body).toEqual(before.ticket);
  expect(restored.headers.get('etag')).toBe(`"${before.ticket.version}"`);
  recorded.push(await record(stack.temporal, 'ticket-restore', `ticket-restore-${t1.id}`));

  expect(await ticketView(stack, acme.headers, t1.id)).toEqual(before);
  for (const f of t1.files) {
    const file = await fetch(`${stack.url}/api/v1/attachments/${f.id}`, { headers: acme.admin.headers });
    expect(file.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await file.arrayBuffer()))
        .digest('hex'),
    ).toBe(f.sha256);
  }
  // Closed is terminal: the restored ticket is read-only, as before it was archived.
  const patch = await http(stack, 'PATCH', `/api/v1/tickets/${t1.id}`, { headers: acme.headers, body: { status: 'open' } });
  expect({ status: patch.status, code: patch.body.code }).toEqual({ status: 422, code: 'ticket_closed' });
  const reply = await http(stack, 'POST', `/api/v1/tickets/${t1.id}/messages`, { headers: acme.headers, body: { body: 'Back again?' } });
  expect(reply.status).toBe(422);
  // The archive is kept; restoring twice answers the same; a ticket never archived is a conflict.
  expect((await http(stack, 'GET', `/api/v1/tickets/${t1.id}/archive`, { headers: acme.headers })).status).toBe(200);
  expect((await http(stack, 'POST', `/api/v1/tickets/${t1.id}/restore`, { headers: acme.admin.headers })).body).toEqual(before.ticket);
  expect((await http(stack, 'POST', `/api/v1/tickets/${young.id}/restore`, { headers: acme.admin.headers })).status).toBe(409);

  expect(await noticesOf(t1.id, 'ticket.restored')).toHaveLength(1);
  await live.waitFor((m) => m.type === 'event' && m.event.type === 'ticket.restored' && m.event.data.ticket_id === t1.id);
  const audit = await http(stack, 'GET', `/api/v1/audit?entity_type=ticket&entity_id=${t1.id}&action=ticket.restored`, { headers: acme.admin.headers });
  expect(audit.body.data).toEqual([expect.objectContaining({ actor: { type: 'agent', id: acme.admin.id } })]);

  // Restored just now: the next run leaves it. Once its age counts again (from the restore), it is archived in place.
  expect((await runArchival(stack)).totals.archived).toBe(0);
  await stack.admin.query(`UPDATE ticket_archives SET restored_at = now() - interval '100 days' WHERE ticket_id = $1`, [t1.id]);
  expect((await runArchival(stack)).totals).toMatchObject({ archived: 1, failed: 0 });
  const again = await archiveRow(t1.id);
  expect(again).toMatchObject({ state: 'archived', generation: 2 });
  const folder = again.location.replace(/ticket\.json$/, '');
  expect(await keysUnder(storage, folder)).toHaveLength(t1.files.length + 1); // the same objects, no second copy
  const notices = await noticesOf(t1.id, 'ticket.archived');
  expect(notices).toHaveLength(2);
  expect(notices[0].id).not.toBe(notices[1].id);
  expect(await keysUnder(storage, `attachments/${acme.id}/${t1.id}/`)).toEqual([]);
  // The local backend leaves no temp file behind anywhere.
  expect(readdirSync(objectsDir, { recursive: true }).filter((f) => String(f).endsWith('.tmp'))).toEqual([]);
}, 180_000);

it('replays the recorded runs with the current workflow code', async () => {
  expect(recorded.map((r) => r.name)).toEqual(['archival-run', 'ticket-restore']);
  expect(await replayAll(recorded)).toEqual([]);
}, 240_000);

it('`npm run admin -- archive-now --wait` runs the schedule once, now, and prints the run', async () => {
  const late = await closedTicket(stack, globex, { closedDaysAgo: 30, files: false });
  const cli = await runAdmin(['archive-now', '--wait'], iso.env, { timeoutMs: 100_000 });
  expect({ code: cli.code, err: cli.err }).toEqual({ code: 0, err: '' });
  const out = JSON.parse(cli.out);
  expect(out).toMatchObject({ schedule: archivalScheduleId(stack.config.TEMPORAL_TASK_QUEUE), archived: 1, failed: 0 });
  expect(await archiveRow(late.id)).toMatchObject({ state: 'archived' });
  const schedule = await stack.temporal.schedule.getHandle(archivalScheduleId(stack.config.TEMPORAL_TASK_QUEUE)).describe();
  expect(schedule.info.recentActions.map((a) => a.action.workflow.workflowId)).toEqual([out.workflow_id]);
}, 120_000);
