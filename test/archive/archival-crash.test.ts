/**
 * Fault: the worker process is killed (`kill -9`) in the middle of an archival batch, with two tickets archived and the
 * third one's removal in flight. Another worker takes over (the activity's heartbeat stops, its retry resumes) and the
 * run completes: every ticket archived exactly once (one archive row, one document per ticket, one `ticket.archived`,
 * one audit entry), nothing lost (every file in the archive and verified, no hot row or hot file left), nothing stray.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { ObjectStorage } from '../../platform/object-storage';
import { archivalInput } from '../../workers/archival-schedule';
import { ARCHIVAL_WORKFLOW_TYPE, type ArchivalTotals } from '../../workflows/archival-contract';
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, type Tenant, type TestStack } from '../support/stack';
import { type ClosedTicket, closedTicket, hotRows, keysUnder, objectSha, sha256, storageOf, waitFor } from './support';

let iso: IsolatedStack;
let stack: TestStack;
let storage: ObjectStorage;
let objectsDir: string;
let acme: Tenant;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  objectsDir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-archival-crash-'));
  iso = await startIsolatedStack('archival_crash', { OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: objectsDir, ARCHIVE_BATCH_SIZE: '10' });
  stack = iso.stack;
  storage = storageOf(stack);
  acme = await createTenant(stack, 'Acme');
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await storage?.close();
  await iso?.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

it('kill -9 the worker mid-batch, start another: every ticket archived exactly once, nothing lost', async () => {
  const tickets: ClosedTicket[] = [];
  // Closed on distinct days, so the run takes them in this order.
  for (let i = 0; i < 5; i++) tickets.push(await closedTicket(stack, acme, { closedDaysAgo: 105 - i }));
  const victim = tickets[2]!;

  // Hold the third ticket's row (as the owner): the worker's removal of it blocks there, the first two archived.
  const blocker = new pg.Client({ connectionString: stack.config.DATABASE_ADMIN_URL });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE', [victim.id]);

  const workflowId = `archival-crash-${randomUUID()}`;
  const handle = await stack.temporal.workflow.start(ARCHIVAL_WORKFLOW_TYPE, {
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [
      archivalInput({
        taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
        cron: stack.config.ARCHIVE_CRON,
        defaultAfterDays: stack.config.ARCHIVE_AFTER_DAYS,
        batchSize: stack.config.ARCHIVE_BATCH_SIZE,
      }),
    ],
  });
  await waitFor(
    'the worker to block removing the third ticket',
    async () =>
      (
        await stack.admin.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%archive_remove_hot_ticket%' AND datname = current_database()`,
        )
      ).rowCount === 1,
    60_000,
  );
  const archivedBefore = await stack.admin.query(`SELECT ticket_id FROM ticket_archives WHERE tenant_id = $1 AND state = 'archived'`, [acme.id]);
  expect(archivedBefore.rows.map((r) => r.ticket_id).sort()).toEqual([tickets[0]!.id, tickets[1]!.id].sort());

  await stopProcess(iso.worker, 'SIGKILL');
  await blocker.query('ROLLBACK');
  await blocker.end();
  workers.push(await startWorkerProcess(iso.env));

  const totals = (await Promise.race([
    handle.result(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('the run did not finish within 120 s of the new worker')), 120_000)),
  ])) as ArchivalTotals;
  expect(totals.failed).toBe(0);
  expect(totals.archived + totals.skipped).toBe(5); // tickets the killed attempt finished are found archived (or skipped by its heartbeat)

  // The batch's activity really was cut short and retried.
  const history = await handle.fetchHistory();
  const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
  expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);

  // Exactly once, nothing lost.
  const { rows: archives } = await stack.admin.query(
    'SELECT ticket_id, state, generation, location, sha256, attachment_count FROM ticket_archives WHERE tenant_id = $1',
    [acme.id],
  );
  expect(archives).toHaveLength(5);
  const expectedKeys: string[] = [];
  for (const t of tickets) {
    const row = archives.find((a) => a.ticket_id === t.id);
    expect(row).toMatchObject({ state: 'archived', generation: 1, attachment_count: 3 });
    expect(await hotRows(stack, t.id)).toEqual({ tickets: 0, messages: 0, events: 0, sla: 0, attachments: 0 });
    const notices = await stack.admin.query(`SELECT 1 FROM webhook_events WHERE ticket_id = $1 AND type = 'ticket.archived'`, [t.id]);
    expect(notices.rowCount).toBe(1);
    const audit = await stack.admin.query(`SELECT 1 FROM audit_log WHERE entity_id = $1 AND action = 'ticket.archived'`, [t.id]);
    expect(audit.rowCount).toBe(1);
    const doc = await fetch(`${stack.url}/api/v1/tickets/${t.id}/archive`, { headers: acme.headers });
    expect(doc.status).toBe(200);
    const bytes = Buffer.from(await doc.arrayBuffer());
    expect(sha256(bytes)).toBe(row.sha256);
    const parsed = JSON.parse(bytes.toString('utf8'));
    expect(parsed.messages).toHaveLength(4); // the opening message, the reply, the note, the customer's thanks
    const folder = row.location.replace(/ticket\.json$/, '');
    expectedKeys.push(row.location);
    for (const f of t.files) {
      expectedKeys.push(`${folder}attachments/${f.id}`);
      expect(await objectSha(storage, `${folder}attachments/${f.id}`)).toBe(f.sha256);
    }
    const meta = await http(stack, 'GET', `/api/v1/tickets/${t.id}`, { headers: acme.headers });
    expect(meta.body.archived_at).toEqual(expect.any(String));
  }
  // One document and one copy of each file per ticket: nothing twice, nothing stray; the hot files all gone.
  expect((await keysUnder(storage, `archive/${acme.id}/`)).sort()).toEqual(expectedKeys.sort());
  expect(await keysUnder(storage, `attachments/${acme.id}/`)).toEqual([]);
  expect(readdirSync(objectsDir, { recursive: true }).filter((f) => String(f).endsWith('.tmp'))).toEqual([]);
}, 300_000);
