/**
 * The dispatcher's look-up of due deliveries takes turns across tenants (a tenant with a large backlog
 * never makes another tenant's fresh delivery wait behind it) and skips leased ones. Checked on the real function inside a
 * transaction that is rolled back, in a database of this suite's own: the run's shared database holds other suites'
 * due deliveries, whose tenants take turns in the same poll (a CI run once saw one of them take a backlog's slot).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { dropDatabase } from '../../platform/db';
import { ownDatabaseEnv } from '../support/own-database';
import { runTs } from '../support/processes';

let admin: pg.Pool;
let adminUrl: string;
const busy = { id: randomUUID() };
const quiet = { id: randomUUID() };

beforeAll(async () => {
  adminUrl = ownDatabaseEnv(`fairness_${randomBytes(4).toString('hex')}`).DATABASE_ADMIN_URL;
  runTs('platform/cli/migrate.ts', { ...process.env, DATABASE_ADMIN_URL: adminUrl });
  admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  await admin.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Busy'), ($2, 'Quiet')`, [busy.id, quiet.id]);
});
afterAll(async () => {
  await admin?.end();
  if (adminUrl) await dropDatabase(adminUrl);
});

async function endpointIn(client: import('pg').PoolClient, tenantId: string): Promise<string> {
  const id = randomUUID();
  await client.query(`INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc) VALUES ($1, $2, 'https://receiver.example/hook', 'x')`, [id, tenantId]);
  return id;
}

/** `count` due deliveries for one endpoint, the oldest `ageSeconds` ago; returns their ids oldest first. */
async function backlog(client: import('pg').PoolClient, tenantId: string, endpointId: string, count: number, ageSeconds: number): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `WITH e AS (
       INSERT INTO webhook_events (id, tenant_id, type, body)
       SELECT gen_random_uuid(), $1, 'ticket.updated', '{}' FROM generate_series(1, $3::int) RETURNING seq
     )
     INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, next_attempt_at)
     SELECT gen_random_uuid(), $1, $2, seq, 'ticket.updated', now() - make_interval(secs => $4::int) + seq * interval '1 microsecond'
     FROM e RETURNING id`,
    [tenantId, endpointId, count, ageSeconds],
  );
  return rows.map((r) => r.id);
}

it("a fresh delivery of one tenant is taken on the next poll, ahead of another tenant's older backlog", async () => {
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    const busyIds = await backlog(client, busy.id, await endpointIn(client, busy.id), 500, 600);
    const [quietId] = await backlog(client, quiet.id, await endpointIn(client, quiet.id), 1, 1);

    const { rows } = await client.query<{ id: string; tenant_id: string }>('SELECT id, tenant_id FROM webhook_deliveries_due(10)');
    expect(rows).toHaveLength(10);
    expect(rows.map((r) => r.id)).toContain(quietId);
    const busyTaken = rows.filter((r) => r.tenant_id === busy.id).map((r) => r.id);
    // Within a tenant the order stays oldest first, and the rest of the poll still drains the backlog.
    expect(busyTaken).toEqual(busyIds.slice(0, 9));

    // Not yet due is not taken, whoever's it is.
    await client.query(`UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [quietId]);
    const later = await client.query<{ id: string }>('SELECT id FROM webhook_deliveries_due(10)');
    expect(later.rows.map((r) => r.id)).not.toContain(quietId);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});

it('a leased (claimed) delivery is not due until its lease ends; any change of status ends the lease', async () => {
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    const [leased, other] = await backlog(client, quiet.id, await endpointIn(client, quiet.id), 2, 5);
    const dueIds = async () =>
      (await client.query<{ id: string }>('SELECT id FROM webhook_deliveries_due(1000) WHERE tenant_id = $1', [quiet.id])).rows.map((r) => r.id);

    await client.query(`UPDATE webhook_deliveries SET leased_until = now() + interval '40 seconds' WHERE id = $1`, [leased]);
    expect(await dueIds()).toEqual([other]);
    // An expired lease (its dispatcher died mid-attempt) makes the delivery due again.
    await client.query(`UPDATE webhook_deliveries SET leased_until = now() - interval '1 second' WHERE id = $1`, [leased]);
    expect(await dueIds()).toEqual([leased, other]);

    // Held by the circuit breaker and released: the release starts unleased, due at once.
    await client.query(`UPDATE webhook_deliveries SET leased_until = now() + interval '40 seconds' WHERE id = $1`, [leased]);
    await client.query(`UPDATE webhook_deliveries SET status = 'held' WHERE id = $1`, [leased]);
    expect((await client.query('SELECT leased_until FROM webhook_deliveries WHERE id = $1', [leased])).rows[0].leased_until).toBeNull();
    await client.query(`UPDATE webhook_deliveries SET status = 'pending' WHERE id = $1`, [leased]);
    expect(await dueIds()).toEqual([leased, other]);
    // A change that keeps the status (a deferral, an endpoint re-enabled) leaves a lease in force.
    await client.query(`UPDATE webhook_deliveries SET leased_until = now() + interval '40 seconds' WHERE id = $1`, [leased]);
    await client.query(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() - interval '1 minute' WHERE id = $1`, [leased]);
    expect(await dueIds()).toEqual([other]);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});
