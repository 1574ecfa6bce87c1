/** The payload builder's internal-note rule fails closed, and a message rides only on the event that names it. */
import { randomUUID } from 'node:crypto';
import { addMessage, openTicket, recordEvents } from '../../domain/ticket-state-machine';
import { webhookEventsOf } from '../../domain/webhooks';

const now = '2026-01-01T00:00:00.000Z';
const actor = { type: 'agent' as const, id: randomUUID() };
const opened = openTicket(
  {
    tenant_id: randomUUID(),
    ticket_id: randomUUID(),
    actor,
    input: { subject: 's', description: 'd', customer_id: randomUUID(), priority: 'normal', channel: 'api', assignee_id: null, group_id: null, tags: [] },
  },
  randomUUID(),
  now,
);

it('an internal note is flagged internal even when the change does not carry its message', () => {
  const note = addMessage(opened.ticket, { body: 'between us', visibility: 'internal', author_type: 'agent' }, actor, randomUUID(), now);
  const [withMessage] = webhookEventsOf(note.ticket, note.events, note.message);
  const [withoutMessage] = webhookEventsOf(note.ticket, note.events);
  expect(withMessage).toMatchObject({ type: 'ticket.message_added', internal: true });
  expect(withoutMessage).toMatchObject({ type: 'ticket.message_added', internal: true });
  expect(JSON.parse(withoutMessage!.body).data.message).toBeUndefined();
});

it('a message is attached only to the event that names it', () => {
  const reply = addMessage(opened.ticket, { body: 'public words', visibility: 'public', author_type: 'agent' }, actor, randomUUID(), now);
  const other = addMessage(reply.ticket, { body: 'note', visibility: 'internal', author_type: 'agent' }, actor, randomUUID(), now);
  // The internal note's event delivered alongside the public reply's message must neither carry it nor lose its flag.
  const built = webhookEventsOf(other.ticket, [...reply.events, ...other.events], reply.message);
  expect(built.map((w) => [w.ticket_version, w.internal])).toEqual([
    [2, false],
    [3, true],
  ]);
  expect(JSON.parse(built[0]!.body).data.message.body).toBe('public words');
  expect(JSON.parse(built[1]!.body).data.message).toBeUndefined();
  // Follow-up events of a change (SLA decisions) are deliverable when they are in the catalog, never internal.
  const followed = recordEvents(other.ticket, [{ type: 'sla.breached', actor, data: { metric: 'first_reply', due_at: now } }], now);
  expect(webhookEventsOf(followed.ticket, followed.events).map((w) => [w.type, w.internal])).toEqual([['sla.breached', false]]);
});
