/**
 * A projection that keeps failing (here: a trigger in the real database that raises, as a bug or a
 * broken migration would) never wedges a ticket. A command is rejected with a problem and leaves the
 * ticket as it was; an SLA deadline whose change is refused is tried again later instead of in a
 * tight loop, other commands keep working meanwhile, and once the fault is gone the breach is recorded once.
 */
import { ticketWorkflowId } from '../../domain/ids';
import { getTicketQuery } from '../../workflows/ticket-contract';
import { createPolicy, eventually, ofType, openTicket, sleep, timeline } from '../sla/support';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack, 'Faulty');
  await createPolicy(stack, tenant, { name: 'Fast', targets: { normal: { first_reply: 3 / 60 } } });
});
afterAll(async () => {
  await stack?.admin.query('DROP TRIGGER IF EXISTS refuse_for_test ON ticket_events').catch(() => undefined);
  await stack?.close();
});

/** Makes every projection write of this ticket whose timeline event matches `type` fail (SQLSTATE P0001). */
async function breakProjection(ticketId: string, type: string) {
  await stack.admin.query(`
    CREATE OR REPLACE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.ticket_id = '${ticketId}'::uuid AND NEW.type LIKE '${type}' THEN RAISE EXCEPTION 'injected projection fault'; END IF;
      RETURN NEW;
    END $$`);
  await stack.admin.query('DROP TRIGGER IF EXISTS refuse_for_test ON ticket_events');
  await stack.admin.query('CREATE TRIGGER refuse_for_test BEFORE INSERT ON ticket_events FOR EACH ROW EXECUTE FUNCTION refuse_for_test()');
}
const repairProjection = () => stack.admin.query('DROP TRIGGER IF EXISTS refuse_for_test ON ticket_events');

it('a command whose write fails is a 500 change_failed, the ticket unchanged, the next command fine', async () => {
  const ticket = await openTicket(stack, tenant, { priority: 'low' });
  await breakProjection(ticket.id, 'ticket.updated');
  try {
    const refused = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { priority: 'urgent' } });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 500, code: 'change_failed' });
    const live = await stack.temporal.workflow.getHandle(ticketWorkflowId(ticket.id)).query(getTicketQuery);
    expect(live).toMatchObject({ version: ticket.version, priority: 'low' });
    // Messages write other event types: the ticket still takes them while updates are refused.
    const note = await http(stack, 'POST', `/api/v1/tickets/${ticket.id}/messages`, {
      headers: tenant.headers,
      body: { body: 'noted', visibility: 'internal' },
    });
    expect(note.status).toBe(201);
  } finally {
    await repairProjection();
  }
  const ok = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { priority: 'urgent' } });
  expect(ok.status).toBe(200);
  expect(ok.body.priority).toBe('urgent');
});

it('a breach whose write fails is retried later, not in a loop; the ticket keeps working; repaired, it is recorded once', async () => {
  const ticket = await openTicket(stack, tenant);
  const handle = stack.temporal.workflow.getHandle(ticketWorkflowId(ticket.id));
  await breakProjection(ticket.id, 'sla.breached');
  try {
    await sleep(4_000); // past the 3 s deadline: the breach has been attempted and refused
    const length = (await handle.describe()).historyLength;
    await sleep(2_000);
    // Backing off (the first retry is a minute away), not spinning: the history stands still.
    expect((await handle.describe()).historyLength).toBe(length);
    expect(ofType(await timeline(stack, tenant, ticket.id), 'sla.breached')).toHaveLength(0);
    // Commands still go through while the deadline waits.
    const tagged = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { tags: ['vip'] } });
    expect(tagged.status).toBe(200);
  } finally {
    await repairProjection();
  }
  // The next change wakes the ticket, which tries the deadline again, now with success.
  const touched = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { tags: ['vip', 'waiting'] } });
  expect(touched.status).toBe(200);
  const events = await eventually(
    () => timeline(stack, tenant, ticket.id),
    (e) => ofType(e, 'sla.breached').length > 0,
  );
  await sleep(1_000);
  expect(ofType(await timeline(stack, tenant, ticket.id), 'sla.breached')).toHaveLength(1);
  expect(ofType(events, 'sla.breached')[0]!.data).toMatchObject({ metric: 'first_reply' });
}, 60_000);
