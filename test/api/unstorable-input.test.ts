/**
 * Text PostgreSQL cannot store (NUL, lone surrogates) is refused at the edge on every route, and no
 * input can wedge a ticket workflow: a change the projection refuses is rejected with a problem, the
 * ticket keeps its state and takes the next change at once, and the history replays deterministically.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { signPayload } from '../../platform/signing';
import { ticketWorkflows } from '../../api/ticket-workflows';
import { DeskflowError } from '../../domain/errors';
import { ticketWorkflowId } from '../../domain/ids';
import { UNSTORABLE_MESSAGE } from '../../domain/text';
import { preloadModules, workflowsPath } from '../../workers/workflow-bundle';
import { addMessageUpdate, getTicketQuery, patchTicketUpdate } from '../../workflows/ticket-contract';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;
let doc: any;
/** Real objects for every path parameter, so each route reaches its body validation. */
const ids: Record<string, string> = {};
let inboundSecret = '';

const NUL = 'a\u0000b';
const LONE_SURROGATE = 'a\ud800b';
const BIG_MULTIBYTE = 'é'.repeat(32_768); // 64 KiB of UTF-8

beforeAll(async () => {
  // Many signed inbound posts in one minute: lift the per-tenant inbound limit for this suite.
  stack = await startStack({ INBOUND_RATE_LIMIT_PER_MIN: '100000' });
  tenant = await createTenant(stack, 'Unstorable');
  doc = (await http(stack, 'GET', '/openapi.json')).body;
  const admin = tenant.admin.headers;
  const ticket = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 'Printer on fire', description: 'It is on fire.', customer_id: tenant.customerId },
  });
  expect(ticket.status).toBe(201);
  const message = await http(stack, 'POST', `/api/v1/tickets/${ticket.body.id}/messages`, {
    headers: tenant.headers,
    body: { body: 'Looking into it', visibility: 'internal', author_type: 'agent' },
  });
  expect(message.status).toBe(201);
  const key = await http(stack, 'POST', '/api/v1/api-keys', { headers: admin, body: { name: 'probe', scopes: ['tickets:read'] } });
  expect(key.status).toBe(201);
  const calendar = await http(stack, 'POST', '/api/v1/business-hours', {
    headers: admin,
    body: { name: 'Weekdays', time_zone: 'Europe/Paris', weekly: [{ day: 1, start: '09:00', end: '17:00' }], holidays: [] },
  });
  expect(calendar.status).toBe(201);
  const policy = await http(stack, 'POST', '/api/v1/sla-policies', {
    headers: admin,
    body: { name: 'Probe policy', position: 1, active: false, targets: { normal: { first_reply: 60 } } },
  });
  expect(policy.status).toBe(201);
  const endpoint = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: admin, body: { url: 'http://127.0.0.1:9/hooks' } });
  expect(endpoint.status).toBe(201);
  const secret = await http(stack, 'POST', '/api/v1/tenant/inbound-secret', { headers: admin });
  expect(secret.status).toBe(200);
  inboundSecret = secret.body.inbound_secret;
  // A (disabled) webhook endpoint and a dead delivery of it, written as the owner.
  const endpointId = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, enabled) VALUES ($1, $2, 'https://hooks.example.invalid/x', 'enc', false)",
    [endpointId, tenant.id],
  );
  const { rows: event } = await stack.admin.query<{ seq: string }>(
    "INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', '{}') RETURNING seq",
    [randomUUID(), tenant.id],
  );
  const deliveryId = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status) VALUES ($1, $2, $3, $4, 'webhook.test', 'dead')",
    [deliveryId, tenant.id, endpointId, event[0]!.seq],
  );
  Object.assign(ids, {
    'webhook-deliveries': deliveryId,
    tickets: ticket.body.id,
    messages: message.body.id,
    customers: tenant.customerId,
    users: tenant.agent.id,
    'api-keys': key.body.id,
    'business-hours': calendar.body.id,
    'sla-policies': policy.body.id,
    'webhook-endpoints': endpoint.body.id,
    inbound: tenant.id,
  });
});
afterAll(async () => {
  await stack?.close();
});

/** `/api/v1/tickets/{id}/messages/{messageId}` with the fixture ids filled in. */
function concretePath(path: string): string {
  const parts = path.split('/');
  return parts
    .map((part, i) => {
      if (!part.startsWith('{')) return part;
      if (part === '{messageId}') return ids.messages;
      const family = parts[i - 1]!;
      const id = ids[family];
      if (!id) throw new Error(`no fixture id for ${path}`);
      return id;
    })
    .join('/');
}

/** Dotted paths of every string-typed property of a JSON schema (nested objects, arrays, nullable unions). */
function stringFields(schema: any, prefix: string[] = [], depth = 0): string[][] {
  if (!schema || depth > 6) return [];
  if (schema.$ref) return stringFields(resolveRef(schema.$ref), prefix, depth + 1);
  const alternatives = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (alternatives) return dedupe(alternatives.flatMap((s: any) => stringFields(s, prefix, depth + 1)));
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string')) return [prefix];
  if (types.includes('array')) return stringFields(schema.items, [...prefix, '0'], depth + 1);
  if (schema.properties) {
    return Object.entries(schema.properties).flatMap(([name, s]) => stringFields(s, [...prefix, name], depth + 1));
  }
  return [];
}
const resolveRef = (ref: string) =>
  ref
    .replace('#/', '')
    .split('/')
    .reduce((o: any, k) => o[k], doc);
const dedupe = (paths: string[][]) => [...new Map(paths.map((p) => [p.join('.'), p])).values()];

function bodyWith(path: string[], value: string): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  return head === '0' ? [bodyWith(rest, value)] : { [head!]: bodyWith(rest, value) };
}

interface Case {
  method: string;
  path: string;
  auth: 'bearer' | 'public' | 'inbound';
  field: string[];
  where: 'body' | 'query';
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [path, ops] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      const auth = path.includes('/inbound/') ? 'inbound' : op.security?.length ? 'bearer' : 'public';
      // Logging out would end the session this suite runs on; its body has no free text anyway.
      if (path === '/api/v1/auth/logout') continue;
      const schema = op.requestBody?.content?.['application/json']?.schema;
      for (const field of stringFields(schema)) out.push({ method, path, auth, field, where: 'body' });
      for (const param of op.parameters ?? []) {
        if (param.in === 'query' && stringFields(param.schema).length > 0) out.push({ method, path, auth, field: [param.name], where: 'query' });
      }
    }
  }
  return out;
}

/** Percent-encoding as raw bytes: a lone surrogate goes as its (invalid) UTF-8 bytes, not as U+FFFD. */
const rawQuery = (value: string) => [...value].map((ch) => (ch === '\u0000' ? '%00' : ch === '\ud800' ? '%ED%A0%80' : encodeURIComponent(ch))).join('');

async function send(c: Case, value: string) {
  const target = concretePath(c.path);
  if (c.where === 'query') {
    return http(stack, c.method.toUpperCase(), `${target}?${c.field[0]}=${rawQuery(value)}`, { headers: tenant.admin.headers });
  }
  const body = JSON.stringify(bodyWith(c.field, value));
  const headers: Record<string, string> = c.auth === 'bearer' ? { ...tenant.admin.headers } : {};
  if (c.auth === 'inbound') headers['X-Deskflow-Signature'] = signPayload(inboundSecret, body);
  if (c.method === 'patch' || c.method === 'put') headers['If-Match'] = '*';
  return http(stack, c.method.toUpperCase(), target, { headers, body });
}

it('covers every route family that takes text', () => {
  const routes = new Set(cases().map((c) => `${c.method} ${c.path}`));
  for (const expected of [
    'post /api/v1/tickets',
    'patch /api/v1/tickets/{id}',
    'post /api/v1/tickets/{id}/messages',
    'post /api/v1/customers',
    'patch /api/v1/customers/{id}',
    'post /api/v1/users',
    'patch /api/v1/users/{id}',
    'post /api/v1/api-keys',
    'patch /api/v1/tenant',
    'post /api/v1/auth/login',
    'post /api/v1/business-hours',
    'post /api/v1/sla-policies',
    'post /api/v1/inbound/{tenant}/email',
    'get /api/v1/audit',
    'get /api/v1/customers',
    'post /api/v1/webhook-endpoints',
    'patch /api/v1/webhook-endpoints/{id}',
  ]) {
    expect(routes).toContain(expected);
  }
});

it('refuses NUL and lone surrogates in every string field with a 400 naming the field', async () => {
  const failures: string[] = [];
  for (const c of cases()) {
    // A URL cannot carry a lone surrogate (its bytes are not UTF-8 and stay undecoded): NUL is the query's case.
    for (const bad of c.where === 'query' ? [NUL] : [NUL, LONE_SURROGATE]) {
      const res = await send(c, bad);
      const expectedPath = [c.where, ...c.field].join('.');
      const named = res.body?.errors?.some((e: any) => e.path === expectedPath && e.message === UNSTORABLE_MESSAGE);
      if (res.status !== 400 || res.body?.code !== 'validation_failed' || !named) {
        failures.push(`${c.method} ${c.path} ${expectedPath} ${JSON.stringify(bad)} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    }
  }
  expect(failures).toEqual([]);
}, 120_000);

it("answers 64 KiB of multibyte text (and a lone surrogate's raw bytes in a URL) with a 2xx or a 4xx, never a 5xx", async () => {
  const failures: string[] = [];
  for (const c of cases()) {
    // A URL is capped far below 64 KiB (Node answers 431 before the app sees it): queries get 2 KiB.
    const res = await send(c, c.where === 'query' ? BIG_MULTIBYTE.slice(0, 1024) : BIG_MULTIBYTE);
    const raw = c.where === 'query' ? await send(c, LONE_SURROGATE) : res;
    if (raw.status >= 500) failures.push(`${c.method} ${c.path} ${c.field.join('.')} (raw surrogate) → ${raw.status}`);
    if (res.status >= 500) failures.push(`${c.method} ${c.path} ${c.field.join('.')} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
  }
  expect(failures).toEqual([]);
}, 120_000);

it('keeps a ticket usable after unstorable input: the next normal PATCH is answered at once', async () => {
  const id = ids.tickets!;
  for (const bad of [NUL, LONE_SURROGATE]) {
    for (const body of [{ subject: bad }, { tags: [bad] }]) {
      const refused = await http(stack, 'PATCH', `/api/v1/tickets/${id}`, { headers: tenant.headers, body });
      expect(refused.status).toBe(400);
    }
    const message = await http(stack, 'POST', `/api/v1/tickets/${id}/messages`, {
      headers: tenant.headers,
      body: { body: bad, visibility: 'public', author_type: 'agent' },
    });
    expect(message.status).toBe(400);
  }
  // A hang detector, not a speed check: a wedged ticket never answers.
  const subject = `Still alive ${randomUUID()}`;
  const ok = await fetch(`${stack.url}/api/v1/tickets/${id}`, {
    method: 'PATCH',
    headers: { ...tenant.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ subject }),
    signal: AbortSignal.timeout(5_000),
  });
  expect(ok.status).toBe(200);
  expect((await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers })).body.subject).toBe(subject);
});

describe('a change the projection refuses (sent past the edge, straight to the workflow)', () => {
  async function failureOf(promise: Promise<unknown>) {
    try {
      await promise;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause;
      throw err;
    }
    throw new Error('expected the update to be rejected');
  }

  it('is rejected with unstorable_change, leaves the ticket as it was, and the history stops growing', async () => {
    const created = await http(stack, 'POST', '/api/v1/tickets', {
      headers: tenant.headers,
      body: { subject: 'Direct probe', description: 'Straight to the workflow.', customer_id: tenant.customerId },
    });
    expect(created.status).toBe(201);
    const handle = stack.temporal.workflow.getHandle(ticketWorkflowId(created.body.id));
    const actor = { type: 'agent' as const, id: tenant.agentId };

    const patch = await failureOf(handle.executeUpdate(patchTicketUpdate, { args: [{ tenant_id: tenant.id, actor, patch: { subject: NUL } }] }));
    expect(patch.type).toBe('unstorable_change');
    const message = await failureOf(
      handle.executeUpdate(addMessageUpdate, {
        args: [{ tenant_id: tenant.id, actor, message: { body: LONE_SURROGATE, visibility: 'public', author_type: 'agent' }, message_id: randomUUID() }],
      }),
    );
    expect(message.type).toBe('unstorable_change');

    // The live state and the projection are unchanged: same version, same subject, no new message.
    const live = await handle.query(getTicketQuery);
    expect(live).toMatchObject({ version: created.body.version, subject: 'Direct probe', status: 'new' });
    const row = await stack.admin.query('SELECT version, subject FROM tickets WHERE id = $1', [created.body.id]);
    expect(row.rows[0]).toEqual({ version: created.body.version, subject: 'Direct probe' });
    const messages = await stack.admin.query('SELECT count(*)::int AS n FROM messages WHERE ticket_id = $1', [created.body.id]);
    expect(messages.rows[0].n).toBe(1);

    // The refusal was not retried: the history does not grow while nothing happens.
    const length = async () => (await handle.describe()).historyLength;
    const before = await length();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await length()).toBe(before);

    const patched = await http(stack, 'PATCH', `/api/v1/tickets/${created.body.id}`, {
      headers: tenant.headers,
      body: { subject: 'Fine again', status: 'open' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ subject: 'Fine again', status: 'open', version: created.body.version + 1 });

    // The history, refusals included, replays deterministically with the current workflow code.
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowsPath, bundlerOptions: { preloadModules } }, history, ticketWorkflowId(created.body.id));
  }, 120_000);

  it('a ticket that cannot be opened fails its create with the problem and never exists', async () => {
    const workflows = ticketWorkflows(
      stack.temporal,
      stack.config.TEMPORAL_TASK_QUEUE,
      { autoCloseAfterMs: 60_000, historyEventLimit: 2000 },
      async () => {
        throw new DeskflowError('not_found');
      },
      30_000,
    );
    const ticketId = randomUUID();
    const who = {
      tenantId: tenant.id,
      actor: { type: 'agent' as const, id: tenant.agentId },
      scopes: new Set<never>(),
      credential: { kind: 'system' as const },
    };
    const input = {
      subject: NUL,
      description: 'x',
      customer_id: tenant.customerId,
      priority: 'normal' as const,
      channel: 'api' as const,
      assignee_id: null,
      group_id: null,
      tags: [],
    };
    const err = await workflows.open(who, ticketId, input).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeskflowError);
    expect((err as InstanceType<typeof DeskflowError>).code).toBe('unstorable_change');
    const described = await stack.temporal.workflow.getHandle(ticketWorkflowId(ticketId)).describe();
    expect(described.status.name).toBe('FAILED');
    const row = await stack.admin.query('SELECT 1 FROM tickets WHERE id = $1', [ticketId]);
    expect(row.rowCount).toBe(0);
  }, 60_000);
});
