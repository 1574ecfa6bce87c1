/**
 * The ticket workflow without HTTP: its own dev server (the SDK's TestWorkflowEnvironment over the
 * installed Temporal CLI) and an in-process worker with the real activities against the run's PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { createActivities } from '../../activities';
import { loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { resolveTemporalCli } from '../../platform/temporal-cli';
import { preloadModules, workflowsPath } from '../../workers/workflow-bundle';
import { DeskflowError } from '../../domain/errors';
import { ticketWorkflowId } from '../../domain/ids';
import { TicketSearchAttributes as SA } from '../../domain/search-attributes';
import type { Identity } from '../../domain/identity';
import { ticketWorkflows, type TicketWorkflows } from '../../api/ticket-workflows';
import { getTicketQuery, patchTicketUpdate } from '../../workflows/ticket-contract';
import { createTenant, operatorOf, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;
let who: Identity;
let env: TestWorkflowEnvironment;
let temporal: Client;
let pool: pg.Pool;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `workflow-test-${randomUUID()}`;

const notFound = async (): Promise<never> => {
  throw new DeskflowError('not_found');
};
const workflows = (settings: { autoCloseAfterMs?: number; historyEventLimit?: number } = {}): TicketWorkflows =>
  ticketWorkflows(
    temporal,
    taskQueue,
    { autoCloseAfterMs: settings.autoCloseAfterMs ?? 60_000, historyEventLimit: settings.historyEventLimit ?? 2000 },
    notFound,
    30_000,
  );

const input = () => ({
  subject: 'Cannot log in',
  description: 'The login page spins forever.',
  customer_id: tenant.customerId,
  priority: 'normal' as const,
  channel: 'api' as const,
  assignee_id: null,
  group_id: null,
  tags: [],
});

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DeskflowError) return err.code;
    throw err;
  }
  throw new Error('expected the call to fail');
}

async function projection(id: string) {
  const { rows } = await stack.admin.query('SELECT status, version FROM tickets WHERE id = $1', [id]);
  const events = await stack.admin.query('SELECT version, type FROM ticket_events WHERE ticket_id = $1 ORDER BY version', [id]);
  return { ticket: rows[0], events: events.rows as { version: number; type: string }[] };
}

async function eventually<T>(fn: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  stack = await startStack(); // for fixtures over HTTP (tenant, users, customer) and the owner's pool
  tenant = await createTenant(stack);
  who = { ...operatorOf(tenant.id), actor: { type: 'agent', id: tenant.agentId } };
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli() },
      searchAttributes: Object.values(SA),
      extraArgs: ['--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true'],
    },
  });
  temporal = env.client;
  pool = createPool(loadConfig(process.env));
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath,
    bundlerOptions: { preloadModules },
    activities: createActivities({ pool, temporal }),
  });
  running = worker.run();
}, 120_000);
afterAll(async () => {
  worker?.shutdown();
  await running;
  await pool?.end();
  await env?.teardown();
  await stack?.close();
});

it('update-with-start opens the ticket, persists it, and answers with version 1', async () => {
  const id = randomUUID();
  const ticket = await workflows().open(who, id, input());
  expect(ticket).toMatchObject({ id, status: 'new', version: 1, tenant_id: tenant.id });
  expect(await projection(id)).toEqual({ ticket: { status: 'new', version: 1 }, events: [{ version: 1, type: 'ticket.created' }] });
  // The same id again (a retried create) joins the running workflow instead of opening a second ticket.
  expect(await workflows().open(who, id, input())).toEqual(ticket);
});

it('validators reject an illegal transition or a stale version before anything is written', async () => {
  const id = randomUUID();
  await workflows().open(who, id, input());
  expect(await errorCode(workflows().patch(who, id, { status: 'closed' }))).toBe('illegal_transition');
  expect(await errorCode(workflows().patch(who, id, { priority: 'high' }, 5))).toBe('version_mismatch');
  expect(await errorCode(workflows().patch({ ...who, tenantId: randomUUID() }, id, { priority: 'high' }))).toBe('not_found');

  expect(await projection(id)).toEqual({ ticket: { status: 'new', version: 1 }, events: [{ version: 1, type: 'ticket.created' }] });
  const history = await temporal.workflow.getHandle(ticketWorkflowId(id)).fetchHistory();
  const accepted = history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  const rejected = history.events!.filter((e) => e.workflowExecutionUpdateRejectedEventAttributes);
  expect(accepted).toHaveLength(1); // only the create's update-with-start
  expect(rejected).toHaveLength(0); // validator rejections leave no trace in history
});

it('a failure from workflow code carries the two frames the sandbox keeps, source-mapped to our code', async () => {
  // workflows/stack-frames.ts keeps two (not imported here: it would cut this process's stacks too).
  const id = randomUUID();
  await workflows().open(who, id, input());
  const stale = temporal.workflow
    .getHandle(ticketWorkflowId(id))
    .executeUpdate(patchTicketUpdate, { args: [{ tenant_id: tenant.id, actor: who.actor, patch: { priority: 'high' }, expected_version: 5 }] });
  const err = await stale.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const failure = (err as WorkflowUpdateFailedError).cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect((failure as ApplicationFailure).type).toBe('version_mismatch');
  const frames = (failure!.stack ?? '').split('\n').filter((line) => /^\s*at /.test(line));
  expect(frames.length).toBeGreaterThanOrEqual(1);
  expect(frames.length).toBeLessThanOrEqual(2);
  // ApplicationFailure.create, then our code that made the failure (source-mapped).
  expect(frames.some((frame) => /\/workflows\/ticket\/failures\.ts:\d+/.test(frame))).toBe(true);
});

it('concurrent changes with the same If-Match: exactly one wins, the other is stale', async () => {
  const id = randomUUID();
  await workflows().open(who, id, input());
  const results = await Promise.allSettled([workflows().patch(who, id, { priority: 'high' }, 1), workflows().patch(who, id, { priority: 'urgent' }, 1)]);
  const fulfilled = results.filter((r) => r.status === 'fulfilled');
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(fulfilled).toHaveLength(1);
  expect(rejected).toHaveLength(1);
  expect((rejected[0]!.reason as DeskflowError).code).toBe('version_mismatch');
  expect((await projection(id)).ticket.version).toBe(2);
});

it('keeps search attributes current so ops can find the ticket', async () => {
  const id = randomUUID();
  await workflows().open(who, id, input());
  await workflows().patch(who, id, { status: 'pending', priority: 'urgent', assignee_id: tenant.agentId });
  const described = await temporal.workflow.getHandle(ticketWorkflowId(id)).describe();
  expect(described.typedSearchAttributes.get(SA.tenant)).toBe(tenant.id);
  expect(described.typedSearchAttributes.get(SA.status)).toBe('pending');
  expect(described.typedSearchAttributes.get(SA.priority)).toBe('urgent');
  expect(described.typedSearchAttributes.get(SA.assignee)).toBe(tenant.agentId);
});

it('continues as new before history grows large, keeping its state', async () => {
  const id = randomUUID();
  const small = workflows({ historyEventLimit: 30 });
  await small.open(who, id, input());
  const handle = temporal.workflow.getHandle(ticketWorkflowId(id));
  const firstRunId = (await handle.describe()).runId;
  const priorities = ['high', 'low'] as const;
  for (let i = 0; i < 12; i++) await small.patch(who, id, { priority: priorities[i % 2]! }, i + 1);
  await small.addMessage(who, id, randomUUID(), { body: 'still here?', visibility: 'public', author_type: 'agent' });

  const described = await handle.describe();
  expect(described.runId).not.toBe(firstRunId);
  const live = await handle.query(getTicketQuery);
  expect(live).toMatchObject({ version: 14, status: 'open', priority: 'low' });
  const { ticket, events } = await projection(id);
  expect(ticket).toEqual({ status: 'open', version: 14 });
  expect(events.map((e) => e.version)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
});

it('closes a solved ticket after the configured delay, then refuses changes', async () => {
  const id = randomUUID();
  const quick = workflows({ autoCloseAfterMs: 1500 });
  await quick.open(who, id, input());
  const solved = await quick.patch(who, id, { status: 'solved' });
  expect(solved.status).toBe('solved');

  const after = await eventually(
    () => projection(id),
    (p) => p.ticket.status === 'closed',
  );
  expect(after.ticket).toEqual({ status: 'closed', version: 3 });
  expect(after.events.at(-1)).toEqual({ version: 3, type: 'ticket.closed' });
  const { rows } = await stack.admin.query('SELECT actor_type, data FROM ticket_events WHERE ticket_id = $1 AND version = 3', [id]);
  expect(rows[0]).toEqual({ actor_type: 'system', data: { reason: 'auto_close' } });

  const handle = temporal.workflow.getHandle(ticketWorkflowId(id));
  expect((await handle.describe()).status.name).toBe('COMPLETED');
  expect(await errorCode(quick.patch(who, id, { status: 'open' }))).toBe('not_found'); // our test resolver: gone
});

it('a reopened ticket does not auto-close on the old timer', async () => {
  const id = randomUUID();
  const quick = workflows({ autoCloseAfterMs: 1500 });
  await quick.open(who, id, input());
  await quick.patch(who, id, { status: 'solved' });
  await quick.addMessage(who, id, randomUUID(), { body: 'not fixed!', visibility: 'public', author_type: 'customer' });
  await new Promise((r) => setTimeout(r, 2500));
  expect((await projection(id)).ticket).toEqual({ status: 'open', version: 3 });
});
