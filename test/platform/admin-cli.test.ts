/** `npm run admin`: every subcommand has --help, a failure is one readable line and changes nothing. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { runAdmin } from '../support/processes';

let admin: pg.Pool;
beforeAll(() => {
  admin = new pg.Pool({ connectionString: process.env.DATABASE_ADMIN_URL, max: 1 });
});
afterAll(() => admin.end());

const cli = (...args: string[]) => runAdmin(args);
const tenantsNamed = async (name: string) => (await admin.query('SELECT count(*)::int AS n FROM tenants WHERE name = $1', [name])).rows[0].n;

it('lists its commands, and each has --help', async () => {
  const top = await cli('--help');
  expect(top.code).toBe(0);
  for (const command of ['create-tenant', 'create-api-key', 'verify-audit', 'audit-head', 'seed-demo', 'webhooks-pause', 'webhooks-resume']) {
    expect(top.out).toContain(command);
    const one = await cli(command, '--help');
    expect({ command, code: one.code }).toEqual({ command, code: 0 });
    expect(one.out).toMatch(new RegExp(`^usage: npm run admin -- ${command}`));
  }
  expect((await cli('frobnicate')).code).toBe(2);
});

it('create-tenant refuses a bad password in one line and creates nothing', async () => {
  const name = `Short ${randomUUID()}`;
  const r = await cli('create-tenant', '--name', name, '--admin-email', 'x@short.test', '--admin-password', 'short');
  expect(r.code).toBe(1);
  expect(r.err.split('\n')).toEqual(['error: password: Too small: expected string to have >=12 characters']);
  expect(await tenantsNamed(name)).toBe(0);
});

it('create-tenant makes the tenant with its admin; the same email may admin another tenant', async () => {
  const email = `ada-${randomUUID()}@cli.test`;
  for (const name of [`Cli ${randomUUID()}`, `Cli ${randomUUID()}`]) {
    const r = await cli('create-tenant', '--name', name, '--admin-email', email, '--admin-password', 'correct horse battery');
    expect(r.code).toBe(0);
    const { tenant_id, admin_user_id } = JSON.parse(r.out);
    const { rows } = await admin.query('SELECT tenant_id, role FROM users WHERE id = $1', [admin_user_id]);
    expect(rows[0]).toEqual({ tenant_id, role: 'admin' });
  }
});

it('says an unknown tenant is unknown, in one line', async () => {
  const id = randomUUID();
  for (const command of ['verify-audit', 'audit-head', 'create-api-key']) {
    const r = await cli(command, '--tenant', id, '--name', 'k');
    expect({ command, code: r.code, out: r.out }).toEqual({ command, code: 1, out: `${id}: unknown tenant` });
  }
});
