/**
 * A ticket's SLA policy is picked in PostgreSQL (platform/sla-policies.ts: one policy read per create, not the
 * tenant's every policy). The pick must be exactly domain/sla-policy.ts's rule: the first active policy by position,
 * then age, whose conditions all hold. Checked for generated policies and facts (seeded, so a failure repeats) through
 * both callers, the create path's opening facts and the workflow's re-match, and never across tenants.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type MatchFacts, type PolicyConditions, policyMatches } from '../../domain/sla-policy';
import { Channel, TicketPriority } from '../../domain/ticket';
import { loadConfig } from '../../platform/config';
import { createFieldCrypto } from '../../platform/field-crypto';
import { resolveSlaPolicy } from '../../platform/sla-policies';
import { withTenant } from '../../platform/tenant-db';
import { customerStore } from '../../stores/customers';
import { ticketStore } from '../../stores/tickets';
import { operatorOf } from '../support/stack';

const PRIORITIES = TicketPriority.options;
const CHANNELS = Channel.options;
const TAGS = ['vip', 'billing', 'bug', 'eu'];

let seed = 7;
const next = (max: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % max;
};
const someOf = <T>(all: readonly T[]): T[] => {
  const picked = all.filter(() => next(3) === 0);
  return picked.length ? picked : [all[next(all.length)]!];
};

interface Row {
  id: string;
  position: number;
  created_at: string;
  active: boolean;
  conditions: PolicyConditions;
}

let admin: pg.Pool;
let app: pg.Pool;
const tenant = randomUUID();
const otherTenant = randomUUID();
const customers: string[] = [];
const policies: Row[] = [];

async function insertPolicy(tenantId: string, p: Row) {
  await admin.query(
    `INSERT INTO sla_policies (id, tenant_id, name, position, active, conditions, targets, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      p.id,
      tenantId,
      `policy ${p.id.slice(0, 8)}`,
      p.position,
      p.active,
      JSON.stringify(p.conditions),
      JSON.stringify({ normal: { first_reply: 60 } }),
      p.created_at,
    ],
  );
}

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: process.env.DATABASE_ADMIN_URL, max: 2 });
  app = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  for (const [id, name] of [
    [tenant, 'Policy matching'],
    [otherTenant, 'Policy matching, other tenant'],
  ]) {
    await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
  }
  const store = customerStore(admin, createFieldCrypto(loadConfig(process.env)));
  for (let i = 0; i < 3; i++) {
    const c = await store.create(operatorOf(tenant), randomUUID(), {
      name: `Customer ${i}`,
      email: `c${i}-${tenant}@example.com`,
      phone: null,
      external_id: null,
    });
    customers.push(c.id);
  }
  // Another tenant's catch-all, first in any order: it must never be picked for this tenant.
  await insertPolicy(otherTenant, { id: randomUUID(), position: 0, created_at: '2020-01-01T00:00:00Z', active: true, conditions: {} });
  for (let i = 0; i < 12; i++) {
    const conditions: PolicyConditions = {};
    // Most with two conditions or more, so that many facts match none (one in eight is a catch-all).
    const wanted = next(8) === 0 ? 0 : 2 + next(3);
    while (Object.keys(conditions).length < wanted) {
      const which = next(4);
      if (which === 0) conditions.priority = someOf(PRIORITIES);
      else if (which === 1) conditions.channel = someOf(CHANNELS);
      else if (which === 2) conditions.tags_any = someOf(TAGS);
      // Some named in upper case (z.uuid() accepts it): the same customer.
      else conditions.customer_ids = someOf(customers).map((id) => (next(2) === 0 ? id.toUpperCase() : id));
    }
    const catchAll = Object.keys(conditions).length === 0;
    policies.push({
      id: randomUUID(),
      // Few positions, so ties fall to age; catch-alls last, so most facts are decided by conditions.
      position: catchAll ? 100 + next(3) : next(6),
      created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      // An active catch-all would decide every fact that matched nothing else (the next test has one): keep them off.
      active: !catchAll && next(5) !== 0,
      conditions,
    });
  }
  // Stored newest first, so that only the query's own order (position, then age) can put them right.
  for (const p of [...policies].reverse()) await insertPolicy(tenant, p);
});

afterAll(async () => {
  await admin.query('DELETE FROM sla_policies WHERE tenant_id = ANY($1::uuid[])', [[tenant, otherTenant]]);
  await Promise.all([admin.end(), app.end()]);
});

/** The rule as domain/sla-policy.ts states it, applied in order. */
function expected(facts: MatchFacts): string | null {
  const ordered = [...policies].filter((p) => p.active).sort((a, b) => a.position - b.position || a.created_at.localeCompare(b.created_at));
  return ordered.find((p) => policyMatches(p.conditions, facts))?.id ?? null;
}

function randomFacts(): MatchFacts {
  return {
    priority: PRIORITIES[next(PRIORITIES.length)]!,
    channel: CHANNELS[next(CHANNELS.length)]!,
    tags: next(3) === 0 ? [] : someOf(TAGS).sort(),
    customer_id: next(4) === 0 ? customers[next(customers.length)]!.toUpperCase() : customers[next(customers.length)]!,
  };
}

describe('the SLA policy a ticket gets is picked in PostgreSQL by the domain’s rule', () => {
  it('agrees with policyMatches in order, for the workflow’s re-match and for the create path', async () => {
    const tickets = ticketStore(app);
    let matched = 0;
    for (let i = 0; i < 300; i++) {
      const facts = randomFacts();
      const want = expected(facts);
      const viaRematch = await withTenant(app, tenant, (db) => resolveSlaPolicy(db, tenant, facts));
      const viaCreate = await tickets.openingFacts(tenant, {
        subject: 's',
        description: 'd',
        customer_id: facts.customer_id,
        priority: facts.priority as never,
        channel: facts.channel as never,
        tags: facts.tags,
        assignee_id: null,
        group_id: null,
      });
      expect({ facts, got: viaRematch?.id ?? null }).toEqual({ facts, got: want });
      expect({ facts, got: viaCreate.policy?.id ?? null }).toEqual({ facts, got: want });
      expect(viaCreate.customerExists).toBe(true);
      if (want) matched++;
    }
    // The generated cases exercise both outcomes, not only "no policy".
    expect(matched).toBeGreaterThan(50);
    expect(matched).toBeLessThan(300);
  });

  it('returns the snapshot with its 24/7 calendar, matches customer ids in any case, and nothing for a tenant with no policies', async () => {
    const facts = randomFacts();
    // Two catch-alls first by position, the younger stored first: the older one wins the tie.
    const catchAll: Row = { id: randomUUID(), position: -1, created_at: '2026-06-01T00:00:00Z', active: true, conditions: {} };
    const younger: Row = { ...catchAll, id: randomUUID(), created_at: '2026-06-02T00:00:00Z' };
    await insertPolicy(tenant, younger);
    await insertPolicy(tenant, catchAll);
    try {
      const snapshot = await withTenant(app, tenant, (db) => resolveSlaPolicy(db, tenant, facts));
      expect(snapshot).toMatchObject({ id: catchAll.id, version: 1, targets: { normal: { first_reply: 60 } }, calendar: { id: null, time_zone: 'UTC' } });
    } finally {
      await admin.query('DELETE FROM sla_policies WHERE id = ANY($1::uuid[])', [[catchAll.id, younger.id]]);
    }
    // A customer named in upper case in the policy is the same customer (PostgreSQL hands the ticket's back lower case).
    const upper: Row = {
      id: randomUUID(),
      position: -1,
      created_at: '2026-06-01T00:00:00Z',
      active: true,
      conditions: { customer_ids: [customers[0]!.toUpperCase()] },
    };
    await insertPolicy(tenant, upper);
    try {
      for (const customer_id of [customers[0]!, customers[0]!.toUpperCase()]) {
        expect((await withTenant(app, tenant, (db) => resolveSlaPolicy(db, tenant, { ...facts, customer_id })))?.id).toBe(upper.id);
      }
      expect((await withTenant(app, tenant, (db) => resolveSlaPolicy(db, tenant, { ...facts, customer_id: customers[1]! })))?.id).not.toBe(upper.id);
    } finally {
      await admin.query('DELETE FROM sla_policies WHERE id = $1', [upper.id]);
    }
    const empty = randomUUID();
    await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [empty, 'No policies']);
    expect(await withTenant(app, empty, (db) => resolveSlaPolicy(db, empty, facts))).toBeNull();
  });
});
