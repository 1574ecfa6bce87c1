/** SLA clocks in the ticket workflow, against the real dev server, with targets of seconds. */
import { ticketWorkflowId } from '../../domain/ids';
import { TicketSearchAttributes as SA } from '../../domain/search-attributes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { createPolicy, eventually, ofType, openTicket, sleep, timeline } from './support';

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const minutes = (seconds: number) => seconds / 60;
const ms = (iso: string) => Date.parse(iso);
/** The objective: a breach (or warning) is recorded within 2 s of its due time. */
const LATE = 2000;

describe('warning then breach', () => {
  let tenant: Tenant;
  beforeAll(async () => {
    tenant = await createTenant(stack, 'Ladder');
    await createPolicy(stack, tenant, {
      name: 'Fast',
      targets: { normal: { first_reply: minutes(6) } },
      escalation_rules: [
        {
          id: 'warn',
          trigger: { type: 'warning', percent: 50 },
          actions: [
            { type: 'notify', assignee: true },
            { type: 'add_tag', tag: 'sla-warned' },
          ],
        },
        { id: 'breach', trigger: { type: 'breach' }, actions: [{ type: 'set_priority', priority: 'high' }, { type: 'emit' }] },
      ],
    });
  });

  it('fire once each, in order, never before their time, and run their actions once', async () => {
    const ticket = await openTicket(stack, tenant, { assignee_id: tenant.agent.id });
    const created = ms(ticket.created_at);
    expect(ticket.sla.metrics.find((m: any) => m.metric === 'first_reply').due_at).toBe(new Date(created + 6000).toISOString());

    const events = await eventually(
      () => timeline(stack, tenant, ticket.id),
      (e) => ofType(e, 'sla.escalated').length >= 2,
    );
    await sleep(1500); // anything duplicated would show up now
    const final = await timeline(stack, tenant, ticket.id);
    expect(final).toEqual(events.concat(final.slice(events.length)));
    const slaTypes = final.map((e) => e.type).filter((t) => t.startsWith('sla.') && t !== 'sla.retargeted');
    expect(slaTypes).toEqual(['sla.policy_applied', 'sla.warning', 'sla.escalated', 'sla.breached', 'sla.escalated']);

    const [warning] = ofType(final, 'sla.warning');
    const [breach] = ofType(final, 'sla.breached');
    expect(warning!.data.at).toBe(new Date(created + 3000).toISOString());
    expect(breach!.data.due_at).toBe(new Date(created + 6000).toISOString());
    expect(ms(warning!.occurred_at)).toBeGreaterThanOrEqual(created + 3000);
    expect(ms(breach!.occurred_at)).toBeGreaterThanOrEqual(created + 6000);
    // ...and not late: recorded within 2 s of their due time.
    expect(ms(warning!.occurred_at)).toBeLessThanOrEqual(created + 3000 + LATE);
    expect(ms(breach!.occurred_at)).toBeLessThanOrEqual(created + 6000 + LATE);

    const [warnRule, breachRule] = ofType(final, 'sla.escalated');
    expect(warnRule!.data).toMatchObject({ rule_id: 'warn', metric: 'first_reply', notify: { assignee_id: tenant.agent.id } });
    expect(breachRule!.data).toMatchObject({ rule_id: 'breach', emit: true, changes: { priority: { from: 'normal', to: 'high' } } });

    const now = (await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers })).body;
    expect(now.tags).toEqual(['sla-warned']);
    expect(now.priority).toBe('high');
    expect(now.sla.metrics.find((m: any) => m.metric === 'first_reply')).toMatchObject({ status: 'running', fired: ['warn', 'breach'] });
  });

  it('achieving the metric first cancels both', async () => {
    const ticket = await openTicket(stack, tenant);
    const reply = await http(stack, 'POST', `/api/v1/tickets/${ticket.id}/messages`, { headers: tenant.headers, body: { body: 'On it' } });
    expect(reply.status).toBe(201);
    await sleep(7000);
    const events = await timeline(stack, tenant, ticket.id);
    expect(ofType(events, 'sla.achieved', 'first_reply')).toHaveLength(1);
    expect(ofType(events, 'sla.warning')).toHaveLength(0);
    expect(ofType(events, 'sla.breached')).toHaveLength(0);
    expect(ofType(events, 'sla.escalated')).toHaveLength(0);
  });

  it('an acknowledgement stops the ladder: later rules are recorded as suppressed and do nothing', async () => {
    const t2 = await createTenant(stack, 'Acked');
    await createPolicy(stack, t2, {
      name: 'Ladder',
      targets: { normal: { first_reply: minutes(6) } },
      escalation_rules: [
        { id: 'w50', trigger: { type: 'warning', percent: 30 }, actions: [{ type: 'notify', assignee: true }] },
        { id: 'breach', trigger: { type: 'breach' }, actions: [{ type: 'set_priority', priority: 'urgent' }] },
      ],
    });
    const ticket = await openTicket(stack, t2);
    await eventually(
      () => timeline(stack, t2, ticket.id),
      (e) => ofType(e, 'sla.warning').length === 1,
    );
    const ack = await http(stack, 'POST', `/api/v1/tickets/${ticket.id}/sla/ack`, { headers: t2.headers });
    expect(ack.status).toBe(200);
    const events = await eventually(
      () => timeline(stack, t2, ticket.id),
      (e) => ofType(e, 'sla.breached').length === 1,
    );
    await sleep(500);
    const final = await timeline(stack, t2, ticket.id);
    expect(ofType(final, 'sla.acknowledged')).toHaveLength(1);
    const escalated = ofType(final, 'sla.escalated');
    expect(escalated.map((e) => [e.data.rule_id, e.data.suppressed ?? null])).toEqual([
      ['w50', null],
      ['breach', 'acknowledged'],
    ]);
    expect((await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: t2.headers })).body.priority).toBe('normal');
    expect(events.length).toBeGreaterThan(0);
  });
});

describe('pauses, priorities and policy edits', () => {
  let tenant: Tenant;
  let policyId: string;
  beforeAll(async () => {
    tenant = await createTenant(stack, 'Clocks');
    policyId = (
      await createPolicy(stack, tenant, {
        name: 'Standard',
        targets: { normal: { first_reply: 10, resolution: 60 }, urgent: { first_reply: 1, resolution: 5 } },
      })
    ).id;
  });

  const slaOf = async (id: string) => (await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers })).body.sla;
  const metric = (sla: any, name: string) => sla.metrics.find((m: any) => m.metric === name);

  it('the ticket run names its policy from the start (SlaPolicyId), with no search-attribute upsert when it opens', async () => {
    const ticket = await openTicket(stack, tenant);
    expect(ticket.sla.policy_id).toBe(policyId);
    const handle = stack.temporal.workflow.getHandle(ticketWorkflowId(ticket.id));
    expect((await handle.describe()).typedSearchAttributes.get(SA.slaPolicy)).toBe(policyId);
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes)).toHaveLength(0);
    // A change of what the attributes show is still published.
    await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { priority: 'urgent' } });
    expect((await handle.describe()).typedSearchAttributes.get(SA.priority)).toBe('urgent');
  });

  it('pending pauses the clock; resuming shifts the deadline by exactly the paused time', async () => {
    const ticket = await openTicket(stack, tenant);
    const due0 = ms(metric(ticket.sla, 'resolution').due_at);
    const paused = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'pending' } });
    expect(metric(paused.body.sla, 'resolution')).toMatchObject({ status: 'paused', due_at: null });
    await sleep(1200);
    const resumed = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'open' } });
    const m = metric(resumed.body.sla, 'resolution');
    expect(m.status).toBe('running');
    expect(m.paused_ms).toBeGreaterThanOrEqual(1000);
    expect(ms(m.due_at) - due0).toBe(m.paused_ms);
    const types = (await timeline(stack, tenant, ticket.id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['sla.paused', 'sla.resumed']));
  });

  it('a priority change re-targets, keeping the time already used', async () => {
    const ticket = await openTicket(stack, tenant);
    const created = ms(ticket.created_at);
    expect(ms(metric(ticket.sla, 'first_reply').due_at)).toBe(created + 10 * 60_000);
    const urgent = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { priority: 'urgent' } });
    expect(ms(metric(urgent.body.sla, 'first_reply').due_at)).toBe(created + 60_000);
    expect(ms(metric(urgent.body.sla, 'resolution').due_at)).toBe(created + 5 * 60_000);
    const retargeted = ofType(await timeline(stack, tenant, ticket.id), 'sla.retargeted');
    expect(retargeted.map((e) => e.data.reason)).toEqual(['priority_changed']);
  });

  it('a policy edit reschedules every open ticket under it', async () => {
    const [a, b] = [await openTicket(stack, tenant), await openTicket(stack, tenant)];
    const edit = await http(stack, 'PATCH', `/api/v1/sla-policies/${policyId}`, {
      headers: tenant.admin.headers,
      body: { targets: { normal: { first_reply: 20, resolution: 60 }, urgent: { first_reply: 1, resolution: 5 } } },
    });
    expect(edit.status).toBe(200);
    for (const t of [a, b]) {
      const sla = await eventually(
        () => slaOf(t.id),
        (s) => s.policy_version === edit.body.version,
      );
      expect(sla.policy_version).toBe(edit.body.version);
      expect(ms(metric(sla, 'first_reply').due_at)).toBe(ms(t.created_at) + 20 * 60_000);
    }
  });

  it('explains each deadline and lists every SLA decision', async () => {
    const ticket = await openTicket(stack, tenant);
    await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'on_hold' } });
    const res = await http(stack, 'GET', `/api/v1/tickets/${ticket.id}/sla`, { headers: tenant.headers });
    expect(res.status).toBe(200);
    expect(res.body.metrics.map((m: any) => m.metric)).toEqual(['first_reply', 'resolution']);
    expect(res.body.metrics[0].explanation).toMatch(/policy "Standard" v\d+; target 20 min of business time; calendar 24\/7 \(UTC\)/);
    expect(res.body.metrics[0].explanation).toMatch(/^paused since/);
    expect(res.body.decisions.map((d: any) => d.type)).toEqual(['sla.policy_applied', 'sla.paused']);
  });
});

describe('calendars', () => {
  it('a holiday added to the calendar moves the due time of running tickets, and the explanation names it', async () => {
    const tenant = await createTenant(stack, 'Calendar');
    const allWeek = {
      name: 'Berlin all week',
      time_zone: 'Europe/Berlin',
      weekly: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, start: '00:00', end: '24:00' })),
      holidays: [] as { date: string }[],
    };
    const cal = await http(stack, 'POST', '/api/v1/business-hours', { headers: tenant.admin.headers, body: allWeek });
    expect(cal.status).toBe(201);
    await createPolicy(stack, tenant, { name: 'Two days', calendar_id: cal.body.id, targets: { normal: { resolution: 48 * 60 } } });
    const ticket = await openTicket(stack, tenant);
    const due0 = ms(ticket.sla.metrics[0].due_at);
    // Tomorrow in Berlin becomes a holiday: the deadline moves by that whole day.
    const tomorrow = new Date(ms(ticket.created_at) + 24 * 3600_000).toLocaleDateString('sv-SE', { timeZone: 'Europe/Berlin' });
    const put = await http(stack, 'PUT', `/api/v1/business-hours/${cal.body.id}`, {
      headers: { ...tenant.admin.headers, 'If-Match': '"1"' },
      body: { ...allWeek, holidays: [{ date: tomorrow, name: 'Company day' }] },
    });
    expect(put.status).toBe(200);
    const sla = await eventually(
      async () => (await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers })).body.sla,
      (s) => s.calendar_version === 2,
    );
    const moved = ms(sla.metrics[0].due_at) - due0;
    expect([23, 24, 25].map((h) => h * 3600_000)).toContain(moved); // a whole local day (DST-safe)
    expect(sla.metrics[0].holidays_skipped).toEqual([tomorrow]);
    const explained = await http(stack, 'GET', `/api/v1/tickets/${ticket.id}/sla`, { headers: tenant.headers });
    expect(explained.body.metrics[0].explanation).toContain(`skipping holidays ${tomorrow}`);
  });
});

describe('lists and reports', () => {
  it('filters by sla=breached / at_risk, sorts by next due time, and reports achievement', async () => {
    const tenant = await createTenant(stack, 'Reports');
    await createPolicy(stack, tenant, {
      name: 'Mixed',
      targets: { urgent: { first_reply: minutes(2) }, normal: { first_reply: 30 }, low: { first_reply: 600 } },
      escalation_rules: [{ id: 'warn', trigger: { type: 'warning', percent: 1 }, actions: [{ type: 'notify', assignee: true }] }],
    });
    const breaching = await openTicket(stack, tenant, { priority: 'urgent' });
    const soon = await openTicket(stack, tenant, { priority: 'normal' });
    const later = await openTicket(stack, tenant, { priority: 'low' });
    const answered = await openTicket(stack, tenant, { priority: 'normal' });
    await http(stack, 'POST', `/api/v1/tickets/${answered.id}/messages`, { headers: tenant.headers, body: { body: 'Hi!' } });
    await eventually(
      () => timeline(stack, tenant, breaching.id),
      (e) => ofType(e, 'sla.breached').length === 1,
    );

    const list = async (q: string) => (await http(stack, 'GET', `/api/v1/tickets?${q}`, { headers: tenant.headers })).body.data.map((t: any) => t.id);
    expect(await list('sla=breached')).toEqual([breaching.id]);
    expect(await list('sla=at_risk')).toEqual(expect.arrayContaining([soon.id]));
    expect(await list('sla=at_risk')).not.toContain(breaching.id);
    expect(await list('sort=sla_due')).toEqual([breaching.id, soon.id, later.id, answered.id]);
    const page1 = await http(stack, 'GET', '/api/v1/tickets?sort=sla_due&limit=2', { headers: tenant.headers });
    const page2 = await http(stack, 'GET', `/api/v1/tickets?sort=sla_due&limit=2&cursor=${page1.body.next_cursor}`, { headers: tenant.headers });
    expect(page2.body.data.map((t: any) => t.id)).toEqual([later.id, answered.id]);

    const report = await http(stack, 'GET', '/api/v1/reports/sla?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z', { headers: tenant.admin.headers });
    expect(report.status).toBe(200);
    const firstReply = report.body.metrics.find((m: any) => m.metric === 'first_reply');
    expect(firstReply).toMatchObject({ policy_name: 'Mixed', total: 4, achieved: 1, breached: 1, open: 2, achievement_rate: 0.5 });
    expect(report.body.first_reply.count).toBe(1);
    expect(report.body.first_reply.median_seconds).toBeGreaterThanOrEqual(0);
    const agentReport = await http(stack, 'GET', '/api/v1/reports/sla?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z', { headers: tenant.headers });
    expect(agentReport.status).toBe(403);
  });
});

describe('timers, proven by what fires (and what does not)', () => {
  const metricOf = (t: { sla: any }, name = 'first_reply') => t.sla.metrics.find((m: any) => m.metric === name);
  const get = async (tenant: Tenant, id: string) => (await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers })).body;
  const breaches = async (tenant: Tenant, id: string) => ofType(await timeline(stack, tenant, id), 'sla.breached');

  it('a paused ticket does not breach past its original deadline; resumed, it breaches at the shifted one, on time', async () => {
    const tenant = await createTenant(stack, 'Paused');
    await createPolicy(stack, tenant, { name: 'Four seconds', targets: { normal: { first_reply: minutes(4) } } });
    const ticket = await openTicket(stack, tenant);
    const due0 = ms(metricOf(ticket).due_at);
    const paused = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'pending' } });
    expect(metricOf(paused.body)).toMatchObject({ status: 'paused', due_at: null });
    await sleep(due0 + LATE + 500 - Date.now()); // well past the original deadline, and past its lateness allowance
    expect(await breaches(tenant, ticket.id)).toEqual([]);
    expect(metricOf(await get(tenant, ticket.id))).toMatchObject({ status: 'paused', breached_at: null });

    const resumed = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'open' } });
    const due1 = ms(metricOf(resumed.body).due_at);
    expect(due1 - due0).toBe(metricOf(resumed.body).paused_ms);
    const [breach] = await eventually(
      () => breaches(tenant, ticket.id),
      (b) => b.length > 0,
      15_000,
    );
    expect(breach!.data.due_at).toBe(new Date(due1).toISOString());
    expect(ms(breach!.occurred_at)).toBeGreaterThanOrEqual(due1);
    expect(ms(breach!.occurred_at)).toBeLessThanOrEqual(due1 + LATE);
  });

  it('a target shortened below the time already used breaches at once', async () => {
    const tenant = await createTenant(stack, 'Shortened');
    const policy = await createPolicy(stack, tenant, { name: 'Ten minutes', targets: { normal: { first_reply: 10 } } });
    const ticket = await openTicket(stack, tenant);
    await sleep(2500);
    const editAt = Date.now();
    const edit = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.id}`, {
      headers: tenant.admin.headers,
      body: { targets: { normal: { first_reply: minutes(1) } } },
    });
    expect(edit.status).toBe(200);
    const [breach] = await eventually(
      () => breaches(tenant, ticket.id),
      (b) => b.length > 0,
      10_000,
    );
    expect(ms(breach!.occurred_at)).toBeGreaterThanOrEqual(editAt);
    expect(ms(breach!.occurred_at)).toBeLessThanOrEqual(Date.now());
    expect(ms(breach!.occurred_at) - editAt).toBeLessThanOrEqual(LATE);
    const retargeted = ofType(await timeline(stack, tenant, ticket.id), 'sla.retargeted');
    expect(retargeted.map((e) => e.data.reason)).toEqual(['policy_updated']);
  });

  it('a policy edit moves the timer itself: the old deadline never fires, the new one fires on time', async () => {
    const tenant = await createTenant(stack, 'Retimed');
    const policy = await createPolicy(stack, tenant, { name: 'Moving', targets: { normal: { first_reply: minutes(5) } } });
    const ticket = await openTicket(stack, tenant);
    const created = ms(ticket.created_at);
    const setTarget = async (firstReply: number, version: number) => {
      const edit = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.id}`, {
        headers: tenant.admin.headers,
        body: { targets: { normal: { first_reply: firstReply } } },
      });
      expect(edit.status).toBe(200);
      return eventually(
        () => get(tenant, ticket.id),
        (x) => x.sla.policy_version === version,
      );
    };

    // Lengthened before it was due: nothing fires at the old 5 s deadline.
    await setTarget(10, 2);
    await sleep(created + 5000 + LATE + 500 - Date.now());
    expect(await breaches(tenant, ticket.id)).toEqual([]);

    // Shortened to a few seconds from now: the breach arrives at the new deadline, on time.
    const seconds = Math.ceil((Date.now() - created + 4000) / 1000);
    const due = ms(metricOf(await setTarget(minutes(seconds), 3)).due_at);
    expect(due).toBe(created + seconds * 1000);
    const [breach] = await eventually(
      () => breaches(tenant, ticket.id),
      (b) => b.length > 0,
      15_000,
    );
    expect(breach!.data.due_at).toBe(new Date(due).toISOString());
    expect(ms(breach!.occurred_at)).toBeGreaterThanOrEqual(due);
    expect(ms(breach!.occurred_at)).toBeLessThanOrEqual(due + LATE);
  });

  it('an escalation to a priority without a target keeps the breached cycle on the deadline it breached at', async () => {
    const tenant = await createTenant(stack, 'NoTarget');
    await createPolicy(stack, tenant, {
      name: 'Normal only', // `low` has no targets at all
      targets: { normal: { first_reply: minutes(3) } },
      escalation_rules: [{ id: 'demote', trigger: { type: 'breach' }, actions: [{ type: 'set_priority', priority: 'low' }] }],
    });
    const ticket = await openTicket(stack, tenant);
    const due = metricOf(ticket).due_at;
    await eventually(
      () => timeline(stack, tenant, ticket.id),
      (e) => ofType(e, 'sla.escalated').length === 1,
      15_000,
    );
    const now = await get(tenant, ticket.id);
    expect(now.priority).toBe('low');
    expect(metricOf(now)).toMatchObject({ status: 'running', due_at: due, breached_at: due, target_ms: 3000 });
    expect((await breaches(tenant, ticket.id)).map((b) => b.data.due_at)).toEqual([due]);
  });

  it('Mon–Fri business hours across a real DST change: the deadline the workflow computed is the wall-clock answer', async () => {
    // We cannot move the clock, so the deadline is made to lie across the zone's next DST change (a
    // target of 200 business days always spans one). The workflow's due_at is checked against an
    // independent wall-clock walk with luxon. This proves the deadline is computed in local time across
    // the change, end to end (API → workflow → projection); it does not wait for that timer to fire.
    const { DateTime } = await import('luxon');
    const zone = 'Europe/Berlin';
    const tenant = await createTenant(stack, 'Dst');
    const weekdays = [1, 2, 3, 4, 5].map((day) => ({ day, start: '09:00', end: '17:00' }));
    const cal = await http(stack, 'POST', '/api/v1/business-hours', {
      headers: tenant.admin.headers,
      body: { name: 'Berlin office', time_zone: zone, weekly: weekdays, holidays: [] },
    });
    expect(cal.status).toBe(201);
    const targetMinutes = 200 * 8 * 60;
    await createPolicy(stack, tenant, { name: 'Long', calendar_id: cal.body.id, targets: { normal: { resolution: targetMinutes } } });
    const ticket = await openTicket(stack, tenant);
    const created = ms(ticket.created_at);
    const due = ms(metricOf(ticket, 'resolution').due_at);

    // The oracle: walk local days, 09:00–17:00 on weekdays, as wall-clock times in the zone.
    let remaining = targetMinutes * 60_000;
    let expected = NaN;
    for (let day = DateTime.fromMillis(created, { zone }).startOf('day'); Number.isNaN(expected); day = day.plus({ days: 1 })) {
      if (day.weekday > 5) continue;
      const open = Math.max(day.set({ hour: 9 }).toMillis(), created);
      const close = day.set({ hour: 17 }).toMillis();
      if (close <= open) continue;
      if (remaining <= close - open) expected = open + remaining;
      else remaining -= close - open;
    }
    const offsets = new Set<number>();
    for (let t = created; t <= due; t += 7 * 86_400_000) offsets.add(DateTime.fromMillis(t, { zone }).offset);
    offsets.add(DateTime.fromMillis(due, { zone }).offset);
    expect(offsets.size).toBe(2); // the deadline does lie across a DST change
    expect(new Date(due).toISOString()).toBe(new Date(expected).toISOString());
    const local = DateTime.fromMillis(due, { zone });
    expect(local.weekday).toBeLessThanOrEqual(5);
    expect(local.hour * 60 + local.minute).toBeGreaterThanOrEqual(9 * 60);
    expect(local.hour * 60 + local.minute + local.second / 60).toBeLessThanOrEqual(17 * 60);
    // The projection serves the same instant.
    expect(metricOf(await get(tenant, ticket.id), 'resolution').due_at).toBe(new Date(due).toISOString());
  });
});
