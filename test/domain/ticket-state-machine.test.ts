import { assertExpectedVersion, DeskflowError } from '../../domain/errors';
import type { Actor, Ticket, TicketStatus } from '../../domain/ticket';
import { TICKET_STATUSES } from '../../domain/ticket';
import { addMessage, autoClose, autoCloseDueAt, canTransition, openTicket, patchTicket } from '../../domain/ticket-state-machine';

const agent: Actor = { type: 'agent', id: 'a1' };
const T0 = '2026-01-05T10:00:00.000Z';
const T1 = '2026-01-05T11:00:00.000Z';

function ticketIn(status: TicketStatus, extra: Partial<Ticket> = {}): Ticket {
  const { ticket } = openTicket(
    {
      tenant_id: '00000000-0000-4000-8000-000000000001',
      ticket_id: '00000000-0000-4000-8000-0000000000f1',
      actor: agent,
      input: {
        subject: 's',
        description: 'd',
        customer_id: '00000000-0000-4000-8000-0000000000c1',
        priority: 'normal',
        channel: 'api',
        assignee_id: null,
        group_id: null,
        tags: [],
      },
    },
    'm0',
    T0,
  );
  return { ...ticket, status, solved_at: status === 'solved' || status === 'closed' ? T0 : null, ...extra };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof DeskflowError ? err.code : 'non-domain-error';
  }
}

const LEGAL: Record<TicketStatus, TicketStatus[]> = {
  new: ['open', 'pending', 'on_hold', 'solved'],
  open: ['pending', 'on_hold', 'solved'],
  pending: ['open', 'on_hold', 'solved'],
  on_hold: ['open', 'pending', 'solved'],
  solved: ['open', 'closed'],
  closed: [],
};

describe('ticket state machine: every pair of statuses', () => {
  const pairs = TICKET_STATUSES.flatMap((from) => TICKET_STATUSES.filter((to) => to !== from).map((to) => [from, to] as const));

  it.each(pairs)('%s → %s', (from, to) => {
    const legal = LEGAL[from].includes(to);
    expect(canTransition(from, to)).toBe(legal);
    const attempt = () => patchTicket(ticketIn(from), { status: to }, agent, T1);
    if (legal) {
      const { ticket, events } = attempt();
      const event = events[0];
      expect(events).toHaveLength(1);
      expect(ticket.status).toBe(to);
      expect(ticket.version).toBe(2);
      expect(event?.changes.status).toEqual({ from, to });
      expect(event?.type).toBe(to === 'closed' ? 'ticket.closed' : 'ticket.updated');
    } else {
      expect(codeOf(attempt)).toBe(from === 'closed' ? 'ticket_closed' : 'illegal_transition');
    }
  });

  it('covers all 30 ordered pairs', () => expect(pairs).toHaveLength(30));

  it('setting the same status (or identical fields) changes nothing and bumps no version', () => {
    const t = ticketIn('open', { tags: ['a'] });
    const { ticket, events } = patchTicket(t, { status: 'open', tags: ['a'] }, agent, T1);
    expect(events).toEqual([]);
    expect(ticket).toBe(t);
  });

  it('solving stamps solved_at, reopening clears it, closing stamps closed_at', () => {
    const solved = patchTicket(ticketIn('open'), { status: 'solved' }, agent, T1).ticket;
    expect(solved.solved_at).toBe(T1);
    const reopened = patchTicket(solved, { status: 'open' }, agent, T1).ticket;
    expect(reopened.solved_at).toBeNull();
    const closed = patchTicket(solved, { status: 'closed' }, agent, T1).ticket;
    expect(closed.closed_at).toBe(T1);
  });

  it('records field changes besides status', () => {
    const [event] = patchTicket(ticketIn('open'), { priority: 'urgent', tags: ['vip'], assignee_id: null }, agent, T1).events;
    expect(event?.changes).toEqual({ priority: { from: 'normal', to: 'urgent' }, tags: { from: [], to: ['vip'] } });
  });
});

describe('messages', () => {
  const reply = (author_type: 'agent' | 'customer', visibility: 'public' | 'internal' = 'public') => ({ body: 'hi', author_type, visibility });

  it.each(['pending', 'solved'] as const)('a customer reply reopens a %s ticket', (status) => {
    const { ticket, events } = addMessage(ticketIn(status), reply('customer'), agent, 'm1', T1);
    expect(ticket.status).toBe('open');
    expect(events[0]?.changes.status).toEqual({ from: status, to: 'open' });
  });

  it.each(['new', 'open', 'on_hold'] as const)('a customer reply leaves a %s ticket as it is', (status) => {
    expect(addMessage(ticketIn(status), reply('customer'), agent, 'm1', T1).ticket.status).toBe(status);
  });

  it("an agent's first public reply moves new to open and stamps first_agent_reply_at once", () => {
    const first = addMessage(ticketIn('new'), reply('agent'), agent, 'm1', T1).ticket;
    expect(first.status).toBe('open');
    expect(first.first_agent_reply_at).toBe(T1);
    const second = addMessage(first, reply('agent'), agent, 'm2', '2026-01-05T12:00:00.000Z').ticket;
    expect(second.first_agent_reply_at).toBe(T1);
  });

  it('an internal note changes no status and is not a first reply', () => {
    const { ticket, message } = addMessage(ticketIn('new'), reply('agent', 'internal'), agent, 'm1', T1);
    expect(ticket.status).toBe('new');
    expect(ticket.first_agent_reply_at).toBeNull();
    expect(message.visibility).toBe('internal');
    expect(ticket.version).toBe(2);
  });

  it('a customer message is authored by the requester', () => {
    const t = ticketIn('open');
    expect(addMessage(t, reply('customer'), agent, 'm1', T1).message.author_id).toBe(t.customer_id);
  });

  it('nothing can be added to a closed ticket', () => {
    expect(codeOf(() => addMessage(ticketIn('closed'), reply('customer'), agent, 'm1', T1))).toBe('ticket_closed');
  });
});

describe('auto-close and versions', () => {
  it('a solved ticket is due to close solved_at + delay later; others never', () => {
    expect(autoCloseDueAt(ticketIn('solved'), 1000)).toBe(Date.parse(T0) + 1000);
    expect(autoCloseDueAt(ticketIn('open'), 1000)).toBeNull();
  });

  it('auto-close closes only solved tickets, as the system', () => {
    const { ticket, events } = autoClose(ticketIn('solved'), T1);
    expect(ticket.status).toBe('closed');
    expect(events.map((e) => e.actor)).toEqual([{ type: 'system', id: null }]);
    expect(autoClose(ticketIn('open'), T1).events).toEqual([]);
  });

  it('a stale expected version is a version_mismatch; none or the current one passes', () => {
    const t = ticketIn('open');
    expect(codeOf(() => assertExpectedVersion(t, 7))).toBe('version_mismatch');
    expect(codeOf(() => assertExpectedVersion(t, 1))).toBeUndefined();
    expect(codeOf(() => assertExpectedVersion(t, undefined))).toBeUndefined();
  });
});
