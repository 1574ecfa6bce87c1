/** Archival suites: closed tickets with messages and files, runs of the archival workflow, what a ticket looks like over HTTP. */
import { createHash, randomUUID } from 'node:crypto';
import { ticketArchiver } from '../../activities/archival';
import { ticketWorkflowId } from '../../domain/ids';
import { createLogger } from '../../platform/logger';
import { createObjectStorage, type ObjectStorage } from '../../platform/object-storage';
import { archivalInput } from '../../workers/archival-schedule';
import { ARCHIVAL_WORKFLOW_TYPE, type ArchivalTotals } from '../../workflows/archival-contract';
import { multipart, type Part, png } from '../support/multipart';
import { openApiChecker } from '../support/openapi-check';
import { http, type Tenant, type TestStack } from '../support/stack';

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export interface UploadedFile {
  id: string;
  filename: string;
  data: Buffer;
  sha256: string;
  internal: boolean;
}

export interface ClosedTicket {
  id: string;
  files: UploadedFile[];
}

async function call(stack: { url: string }, method: string, path: string, headers: Record<string, string>, parts: Part[]) {
  const { body, contentType } = multipart(parts);
  const res = await fetch(stack.url + path, { method, headers: { ...headers, 'Content-Type': contentType }, body });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  (await openApiChecker(stack.url)).check(method, path, res.status, res.headers.get('content-type'), parsed);
  return { status: res.status, body: parsed };
}

/**
 * A ticket worked and closed through the API: a public reply with two files, an internal note with one, a customer
 * reply; closed (its workflow run then completes). `closedDaysAgo` moves its closing back in time (as the owner).
 */
export async function closedTicket(
  stack: TestStack,
  tenant: Tenant,
  opts: { closedDaysAgo?: number; files?: boolean; subject?: string } = {},
): Promise<ClosedTicket> {
  const created = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: opts.subject ?? `Archive me ${randomUUID()}`, description: 'An old question.', customer_id: tenant.customerId, tags: ['billing'] },
  });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
  const id: string = created.body.id;
  const files: UploadedFile[] = [];
  if (opts.files !== false) {
    const reply = [
      { filename: 'invoice.pdf', data: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(randomUUID().repeat(300))]), type: 'application/pdf' },
      { filename: 'screen.png', data: png(40_000), type: 'image/png' },
    ];
    const res = await call(stack, 'POST', `/api/v1/tickets/${id}/messages`, tenant.headers, [
      { name: 'body', value: 'Here is your invoice and a screenshot.' },
      ...reply.map((f) => ({ name: 'files', filename: f.filename, type: f.type, data: f.data })),
    ]);
    if (res.status !== 201) throw new Error(`reply: ${res.status} ${JSON.stringify(res.body)}`);
    res.body.attachments.forEach((a: { id: string }, i: number) => {
      files.push({ id: a.id, filename: reply[i]!.filename, data: reply[i]!.data, sha256: sha256(reply[i]!.data), internal: false });
    });
    const noteFile = Buffer.from(`internal notes ${randomUUID()}\n`.repeat(50));
    const note = await call(stack, 'POST', `/api/v1/tickets/${id}/messages`, tenant.headers, [
      { name: 'body', value: 'Refund approved by finance.' },
      { name: 'visibility', value: 'internal' },
      { name: 'files', filename: 'notes.txt', type: 'text/plain', data: noteFile },
    ]);
    if (note.status !== 201) throw new Error(`note: ${note.status} ${JSON.stringify(note.body)}`);
    files.push({ id: note.body.attachments[0].id, filename: 'notes.txt', data: noteFile, sha256: sha256(noteFile), internal: true });
  }
  const customer = await http(stack, 'POST', `/api/v1/tickets/${id}/messages`, { headers: tenant.headers, body: { body: 'Thanks!', author_type: 'customer' } });
  if (customer.status !== 201) throw new Error(`customer reply: ${customer.status}`);
  for (const status of ['solved', 'closed']) {
    const res = await http(stack, 'PATCH', `/api/v1/tickets/${id}`, { headers: tenant.headers, body: { status } });
    if (res.status !== 200) throw new Error(`${status}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  // Closed is terminal: the run completes (archival never touches a ticket whose run is open).
  await stack.temporal.workflow.getHandle(ticketWorkflowId(id)).result();
  if (opts.closedDaysAgo) await backdate(stack, id, opts.closedDaysAgo);
  return { id, files };
}

/** Moves a ticket's closing (and its last change) `days` back, as the owner: what 90 days of waiting would do. */
export async function backdate(stack: TestStack, ticketId: string, days: number): Promise<void> {
  await stack.admin.query(`UPDATE tickets SET closed_at = now() - make_interval(days => $2), updated_at = now() - make_interval(days => $2) WHERE id = $1`, [
    ticketId,
    days,
  ]);
}

/** One archival run, as the schedule starts it (its input from the stack's settings), to completion. */
export async function runArchival(stack: TestStack, overrides: { batchSize?: number } = {}): Promise<{ workflowId: string; totals: ArchivalTotals }> {
  const workflowId = `archival-test-${randomUUID()}`;
  const input = archivalInput({
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    cron: stack.config.ARCHIVE_CRON,
    defaultAfterDays: stack.config.ARCHIVE_AFTER_DAYS,
    batchSize: overrides.batchSize ?? stack.config.ARCHIVE_BATCH_SIZE,
  });
  const totals = (await stack.temporal.workflow.execute(ARCHIVAL_WORKFLOW_TYPE, {
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [input],
  })) as ArchivalTotals;
  return { workflowId, totals };
}

/** Archives one named ticket in this process, through the path the activity takes (no age check: the caller chose it). */
export async function archiveNow(stack: TestStack, storage: ObjectStorage, tenantId: string, ticketId: string): Promise<string> {
  const archiver = ticketArchiver({
    pool: stack.pool,
    storage,
    temporal: stack.temporal,
    storageClass: stack.config.ARCHIVE_STORAGE_CLASS,
    log: createLogger(stack.config, 'archive-test'),
    redis: stack.redis,
  });
  return archiver.archiveOne({ tenant_id: tenantId, ticket_id: ticketId });
}

export const storageOf = (stack: TestStack) => createObjectStorage(stack.config);

/** Every page of a list route. */
export async function all(stack: TestStack, path: string, headers: Record<string, string>): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: any } = await http(
      stack,
      'GET',
      `${path}${path.includes('?') ? '&' : '?'}limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      {
        headers,
      },
    );
    if (page.status !== 200) throw new Error(`${path}: ${page.status}`);
    out.push(...page.body.data);
    cursor = page.body.has_more ? page.body.next_cursor : null;
  } while (cursor);
  return out;
}

/** What an agent sees of a ticket over HTTP: the ticket, its messages, its timeline. */
export async function ticketView(stack: TestStack, headers: Record<string, string>, id: string) {
  const ticket = await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers });
  return {
    ticket: ticket.body,
    messages: await all(stack, `/api/v1/tickets/${id}/messages`, headers),
    events: await all(stack, `/api/v1/tickets/${id}/events`, headers),
  };
}

/** Every object key under a folder (all pages). */
export async function keysUnder(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list(prefix, cursor ? { cursor } : {});
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

/** The bytes of an object, hashed; null when there is none. */
export async function objectSha(storage: ObjectStorage, key: string): Promise<string | null> {
  const object = await storage.get(key);
  if (!object) return null;
  const hash = createHash('sha256');
  for await (const chunk of object.body) hash.update(chunk);
  return hash.digest('hex');
}

/** Hot rows of a ticket in every table archival empties (as the owner: no RLS). */
export async function hotRows(stack: TestStack, ticketId: string): Promise<Record<string, number>> {
  const { rows } = await stack.admin.query(
    `SELECT (SELECT count(*) FROM tickets WHERE id = $1)::int AS tickets, (SELECT count(*) FROM messages WHERE ticket_id = $1)::int AS messages,
            (SELECT count(*) FROM ticket_events WHERE ticket_id = $1)::int AS events, (SELECT count(*) FROM ticket_sla WHERE ticket_id = $1)::int AS sla,
            (SELECT count(*) FROM attachments WHERE ticket_id = $1)::int AS attachments`,
    [ticketId],
  );
  return rows[0];
}

/** Polls until `check` holds (bounded, with what was awaited in the failure). */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
