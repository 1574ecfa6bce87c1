/**
 * The webhook outbox: each deliverable event of a ticket change is recorded with one delivery per subscribed
 * endpoint in the projection's own statement, so nothing is lost between "the ticket changed" and delivery.
 * Endpoints are inserted as the database owner (dummy secrets): this suite is about the fan-out, not the engine.
 */
import { randomUUID } from 'node:crypto';
import { createProjectionActivities, webhookEventId } from '../../activities/projection';
import { addMessage, openTicket as openTicketChange, patchTicket } from '../../domain/ticket-state-machine';
import { WEBHOOK_EVENTS, type WebhookEventType } from '../../domain/webhooks';
import { createPolicy, eventually, openTicket } from '../sla/support';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
/** acme's endpoints, by what they subscribe to. */
let ep: { all: string; createdOnly: string; notes: string; paused: string };
let globexAll: string;

async function endpoint(t: Tenant, o: { types?: string[]; internal?: boolean; enabled?: boolean } = {}): Promise<string> {
  const id = randomUUID();
  await stack.admin.query(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, include_internal, enabled, secret_enc)
     VALUES ($1, $2, $3, $4, $5, $6, 'dummy')`,
    [id, t.id, `https://hooks.example.com/${id}`, o.types ?? [], o.internal ?? false, o.enabled ?? true],
  );
  return id;
}

interface Row {
  version: number;
  type: string;
  endpoint_id: string;
  status: string;
}

/** The ticket's deliveries, by event version and type (as the owner: every tenant's rows). */
async function deliveries(ticketId: string): Promise<Row[]> {
  const { rows } = await stack.admin.query<Row>(
    `SELECT e.ticket_version AS version, e.type, d.endpoint_id, d.status
     FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq
     WHERE e.ticket_id = $1 ORDER BY e.seq, d.endpoint_id`,
    [ticketId],
  );
  return rows;
}

async function events(ticketId: string) {
  const { rows } = await stack.admin.query<{
    id: string;
    seq: string;
    type: WebhookEventType;
    ticket_version: number;
    internal: boolean;
    body: string;
    tenant_id: string;
  }>('SELECT id, seq, type, ticket_version, internal, body, tenant_id FROM webhook_events WHERE ticket_id = $1 ORDER BY seq', [ticketId]);
  return rows;
}

const endpointsOf = (rows: Row[], type: string) =>
  rows
    .filter((r) => r.type === type)
    .map((r) => r.endpoint_id)
    .sort();

/** Every stored body is `{ type, timestamp, data }` with `data` valid against the catalog's schema of its type. */
function expectCatalogBody(e: { type: WebhookEventType; body: string }) {
  const body = JSON.parse(e.body);
  expect(Object.keys(body).sort()).toEqual(['data', 'timestamp', 'type']);
  expect(body.type).toBe(e.type);
  expect(WEBHOOK_EVENTS[e.type].payload.safeParse(body.data).error).toBeUndefined();
  return body;
}

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  ep = {
    all: await endpoint(acme),
    createdOnly: await endpoint(acme, { types: ['ticket.created'] }),
    notes: await endpoint(acme, { types: ['ticket.message_added'], internal: true }),
    paused: await endpoint(acme, { enabled: false }),
  };
  globexAll = await endpoint(globex);
});
afterAll(async () => {
  await stack?.admin.query('DROP TRIGGER IF EXISTS refuse_delivery_for_test ON webhook_deliveries').catch(() => undefined);
  await stack?.close();
});

it('a created ticket: its event and one delivery per subscribed endpoint commit with the ticket row, before the 201', async () => {
  const ticket = await openTicket(stack, acme);
  // Read at once after the 201: nothing ran in between that could have written them later.
  const rows = await deliveries(ticket.id);
  expect(endpointsOf(rows, 'ticket.created')).toEqual([ep.all, ep.createdOnly, ep.paused].sort());
  expect(rows.find((r) => r.endpoint_id === ep.paused)!.status).toBe('held');
  // Another tenant's endpoint subscribed to everything gets nothing of acme's.
  expect(rows.map((r) => r.endpoint_id)).not.toContain(globexAll);
  expect(rows.map((r) => r.endpoint_id)).not.toContain(ep.notes);

  const [event, ...more] = await events(ticket.id);
  expect(more).toEqual([]);
  expect(event).toMatchObject({ type: 'ticket.created', ticket_version: 1, internal: false, tenant_id: acme.id });
  expect(event!.id).toBe(webhookEventId({ ticket_id: ticket.id, ticket_version: 1, type: 'ticket.created' }));
  expect(expectCatalogBody(event!).data).toMatchObject({ ticket_id: ticket.id, version: 1, ticket: { id: ticket.id, status: 'new' } });

  // One transaction wrote them all: the ticket row, its timeline event, the webhook event and the (never
  // dispatched) held delivery carry the same inserting transaction id.
  const { rows: xids } = await stack.admin.query(
    `SELECT (SELECT xmin::text FROM tickets WHERE id = $1) AS ticket,
            (SELECT xmin::text FROM ticket_events WHERE ticket_id = $1 AND version = 1) AS timeline,
            (SELECT xmin::text FROM webhook_events WHERE ticket_id = $1) AS event,
            (SELECT d.xmin::text FROM webhook_deliveries d WHERE d.ticket_id = $1 AND d.endpoint_id = $2) AS held`,
    [ticket.id, ep.paused],
  );
  expect(new Set(Object.values(xids[0])).size).toBe(1);
});

it('updates, public replies, internal notes and closing each reach the endpoints subscribed to them', async () => {
  const ticket = await openTicket(stack, acme);
  const patch = (body: unknown) => http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: acme.headers, body });
  const say = (body: unknown) => http(stack, 'POST', `/api/v1/tickets/${ticket.id}/messages`, { headers: acme.headers, body });
  expect((await patch({ priority: 'high' })).status).toBe(200); // v2
  expect((await say({ body: 'We are on it.' })).status).toBe(201); // v3
  expect((await say({ body: 'Customer is a reseller, check contract 7.', visibility: 'internal' })).status).toBe(201); // v4
  expect((await patch({ status: 'solved' })).status).toBe(200); // v5
  expect((await patch({ status: 'closed' })).status).toBe(200); // v6

  const stored = await events(ticket.id);
  expect(stored.map((e) => [e.ticket_version, e.type, e.internal])).toEqual([
    [1, 'ticket.created', false],
    [2, 'ticket.updated', false],
    [3, 'ticket.message_added', false],
    [4, 'ticket.message_added', true],
    [5, 'ticket.updated', false],
    [6, 'ticket.closed', false],
  ]);
  for (const e of stored) expectCatalogBody(e);
  expect(JSON.parse(stored[3]!.body).data.message).toMatchObject({ visibility: 'internal', body: 'Customer is a reseller, check contract 7.' });
  expect(JSON.parse(stored[1]!.body).data.changes).toEqual({ priority: { from: 'normal', to: 'high' } });

  const rows = await deliveries(ticket.id);
  const at = (version: number) =>
    rows
      .filter((r) => r.version === version)
      .map((r) => r.endpoint_id)
      .sort();
  expect(at(2)).toEqual([ep.all, ep.paused].sort());
  expect(at(3)).toEqual([ep.all, ep.notes, ep.paused].sort());
  // The internal note leaves only to the endpoint that opted in, never to "all events" endpoints.
  expect(at(4)).toEqual([ep.notes]);
  expect(at(6)).toEqual([ep.all, ep.paused].sort());
  // A paused endpoint loses nothing: every one of its deliveries is kept, held.
  expect(rows.filter((r) => r.endpoint_id === ep.paused).map((r) => r.status)).toEqual(['held', 'held', 'held', 'held', 'held']);
  expect(rows.map((r) => r.endpoint_id)).not.toContain(globexAll);
  // One delivery per (event, endpoint).
  expect(new Set(rows.map((r) => `${r.version}/${r.endpoint_id}`)).size).toBe(rows.length);
});

it('a retried or replayed projection of the same change records nothing twice', async () => {
  const projection = createProjectionActivities(stack.pool);
  const ticketId = randomUUID();
  const now = new Date().toISOString();
  const actor = { type: 'agent' as const, id: acme.agentId };
  const opened = openTicketChange(
    {
      tenant_id: acme.id,
      ticket_id: ticketId,
      actor,
      input: {
        subject: 'Replay',
        description: 'Hello',
        customer_id: acme.customerId,
        priority: 'normal',
        channel: 'api',
        assignee_id: null,
        group_id: null,
        tags: [],
      },
    },
    randomUUID(),
    now,
  );
  const noted = addMessage(opened.ticket, { body: 'secret note', visibility: 'internal', author_type: 'agent' }, actor, randomUUID(), now);
  const patched = patchTicket(noted.ticket, { priority: 'urgent' }, actor, now);

  for (const change of [opened, opened, noted, patched, noted, opened, patched]) {
    const result = await projection.projectTicketChange(change);
    expect(Object.keys(result).sort()).toEqual(['committed_at', 'sla_config']);
  }
  const stored = await events(ticketId);
  expect(stored.map((e) => [e.ticket_version, e.type])).toEqual([
    [1, 'ticket.created'],
    [2, 'ticket.message_added'],
    [3, 'ticket.updated'],
  ]);
  const rows = await deliveries(ticketId);
  expect(rows.map((r) => [r.version, r.endpoint_id])).toEqual(
    [
      [1, ep.all],
      [1, ep.createdOnly],
      [1, ep.paused],
      [2, ep.notes],
      [3, ep.all],
      [3, ep.paused],
    ].sort((a, b) => (a[0] as number) - (b[0] as number) || (String(a[1]) < String(b[1]) ? -1 : 1)),
  );
});

it('a projection whose statement fails leaves neither the ticket change nor its events nor deliveries', async () => {
  const ticket = await openTicket(stack, acme);
  await stack.admin.query(`
    CREATE OR REPLACE FUNCTION refuse_delivery_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.ticket_id = '${ticket.id}'::uuid THEN RAISE EXCEPTION 'injected outbox fault'; END IF;
      RETURN NEW;
    END $$`);
  await stack.admin.query(
    'CREATE TRIGGER refuse_delivery_for_test BEFORE INSERT ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION refuse_delivery_for_test()',
  );
  try {
    const refused = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: acme.headers, body: { priority: 'urgent' } });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 500, code: 'change_failed' });
    const { rows } = await stack.admin.query(
      `SELECT (SELECT version FROM tickets WHERE id = $1) AS version, (SELECT priority FROM tickets WHERE id = $1) AS priority,
              (SELECT count(*) FROM ticket_events WHERE ticket_id = $1)::int AS timeline,
              (SELECT count(*) FROM audit_log WHERE entity_type = 'ticket' AND entity_id = $1::text)::int AS audit,
              (SELECT count(*) FROM webhook_events WHERE ticket_id = $1)::int AS events,
              (SELECT count(*) FROM webhook_deliveries WHERE ticket_id = $1)::int AS deliveries`,
      [ticket.id],
    );
    // Only what the create committed: version 1, one event, its three deliveries.
    expect(rows[0]).toEqual({ version: 1, priority: 'normal', timeline: 1, audit: 1, events: 1, deliveries: 3 });
  } finally {
    await stack.admin.query('DROP TRIGGER IF EXISTS refuse_delivery_for_test ON webhook_deliveries');
  }
  const ok = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: acme.headers, body: { priority: 'urgent' } });
  expect(ok.status).toBe(200);
  expect(endpointsOf(await deliveries(ticket.id), 'ticket.updated')).toEqual([ep.all, ep.paused].sort());
});

it('SLA events are deliverable: a breach reaches the endpoint subscribed to sla.breached', async () => {
  const slaco = await createTenant(stack, 'Slaco');
  const breaches = await endpoint(slaco, { types: ['sla.breached'] });
  await createPolicy(stack, slaco, { name: 'Fast', targets: { normal: { first_reply: 2 / 60 } } });
  const ticket = await openTicket(stack, slaco);
  const rows = await eventually(
    () => deliveries(ticket.id),
    (r) => r.length > 0,
  );
  expect(rows).toEqual([expect.objectContaining({ type: 'sla.breached', endpoint_id: breaches })]);
  const breach = (await events(ticket.id)).find((e) => e.type === 'sla.breached')!;
  expect(expectCatalogBody(breach).data).toMatchObject({ ticket_id: ticket.id, metric: 'first_reply', due_at: expect.any(String) });
  // The timeline's other events (created, policy applied) were recorded but not sent to a breach-only endpoint.
  expect((await events(ticket.id)).map((e) => e.type)).toContain('ticket.created');
}, 60_000);
