/** `npm run admin`: every subcommand has --help, a failure is one readable line and changes nothing. */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { ROOT } from '../support/processes';

let admin: pg.Pool;
beforeAll(() => {
  admin = new pg.Pool({ connectionString: process.env.DATABASE_ADMIN_URL, max: 1 });
});
afterAll(() => admin.end());

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'platform/cli/admin.ts'), ...args], {
    cwd: ROOT,
    env: process.env,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
};
const tenantsNamed = async (name: string) => (await admin.query('SELECT count(*)::int AS n FROM tenants WHERE name = $1', [name])).rows[0].n;

it('lists its commands, and each has --help', () => {
  const top = cli('--help');
  expect(top.code).toBe(0);
  for (const command of ['create-tenant', 'create-api-key', 'verify-audit', 'audit-head', 'seed-demo', 'webhooks-pause', 'webhooks-resume']) {
    expect(top.out).toContain(command);
    const one = cli(command, '--help');
    expect({ command, code: one.code }).toEqual({ command, code: 0 });
    expect(one.out).toMatch(new RegExp(`^usage: npm run admin -- ${command}`));
  }
  expect(cli('frobnicate').code).toBe(2);
});

it('create-tenant refuses a bad password in one line and creates nothing', async () => {
  const name = `Short ${randomUUID()}`;
  const r = cli('create-tenant', '--name', name, '--admin-email', 'x@short.test', '--admin-password', 'short');
  expect(r.code).toBe(1);
  expect(r.err.split('\n')).toEqual(['error: password: Too small: expected string to have >=12 characters']);
  expect(await tenantsNamed(name)).toBe(0);
});

it('create-tenant makes the tenant with its admin; the same email may admin another tenant', async () => {
  const email = `ada-${randomUUID()}@cli.test`;
  for (const name of [`Cli ${randomUUID()}`, `Cli ${randomUUID()}`]) {
    const r = cli('create-tenant', '--name', name, '--admin-email', email, '--admin-password', 'correct horse battery');
    expect(r.code).toBe(0);
    const { tenant_id, admin_user_id } = JSON.parse(r.out);
    const { rows } = await admin.query('SELECT tenant_id, role FROM users WHERE id = $1', [admin_user_id]);
    expect(rows[0]).toEqual({ tenant_id, role: 'admin' });
  }
});

it('says an unknown tenant is unknown, in one line', () => {
  const id = randomUUID();
  for (const command of ['verify-audit', 'audit-head', 'create-api-key']) {
    const r = cli(command, '--tenant', id, '--name', 'k');
    expect({ command, code: r.code, out: r.out }).toEqual({ command, code: 1, out: `${id}: unknown tenant` });
  }
});
