/**
 * Operator commands (run as the database owner, DATABASE_ADMIN_URL):
 *   npm run admin -- create-tenant --name <name> --admin-email <email> --admin-password <pw> [--admin-name <name>]
 *   npm run admin -- create-api-key --tenant <id> --name <name> [--scopes tickets:read,tickets:write]
 *   npm run admin -- verify-audit [--tenant <id>]
 *   npm run admin -- seed-demo
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CreateApiKeyInput, CreateUserInput, SCOPES } from '../../domain/auth';
import { verifyAuditChain } from '../../platform/audit';
import { loadConfig } from '../../platform/config';
import { createFieldCrypto } from '../../platform/field-crypto';
import { DEMO } from '../../platform/demo';
import { apiKeyStore } from '../api-key-store';
import { customerStore } from '../customer-store';
import type { Identity } from '../request';
import { userStore } from '../user-store';

const operator = (tenantId: string): Identity => ({
  tenantId,
  actor: { type: 'system', id: 'admin-cli' },
  scopes: new Set(SCOPES),
  credential: { kind: 'system' },
});

async function createTenant(pool: pg.Pool, name: string, admin: { email: string; password: string; name: string }, id: string = randomUUID()) {
  const input = CreateUserInput.parse({ email: admin.email, password: admin.password, name: admin.name, role: 'admin' });
  await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, name]);
  const existing = await pool.query('SELECT id FROM users WHERE email = $1', [input.email]);
  const user = existing.rows[0] ?? (await userStore(pool).create(operator(id), input));
  return { tenantId: id, adminId: user.id as string };
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      'admin-email': { type: 'string' },
      'admin-password': { type: 'string' },
      'admin-name': { type: 'string' },
      tenant: { type: 'string' },
      scopes: { type: 'string' },
    },
  });
  const config = loadConfig();
  const pool = new pg.Pool({ connectionString: config.DATABASE_ADMIN_URL, max: 2 });
  try {
    switch (command) {
      case 'create-tenant': {
        if (!values.name || !values['admin-email'] || !values['admin-password']) throw new Error('need --name, --admin-email and --admin-password');
        const { tenantId, adminId } = await createTenant(pool, values.name, {
          email: values['admin-email'],
          password: values['admin-password'],
          name: values['admin-name'] ?? values['admin-email'],
        });
        console.log(JSON.stringify({ tenant_id: tenantId, admin_user_id: adminId }));
        return 0;
      }
      case 'create-api-key': {
        if (!values.tenant || !values.name) throw new Error('need --tenant and --name');
        const input = CreateApiKeyInput.parse({ name: values.name, scopes: values.scopes ? values.scopes.split(',') : [...SCOPES] });
        const { key, token } = await apiKeyStore(pool).create(operator(values.tenant), randomUUID(), input);
        console.log(JSON.stringify({ id: key.id, prefix: key.prefix, scopes: key.scopes, token }));
        return 0;
      }
      case 'verify-audit': {
        const reports = await verifyAuditChain(pool, values.tenant);
        if (values.tenant && reports.length === 0) {
          // Nothing verified is not a pass: the whole trail may have been deleted (or the id is wrong).
          console.log(`${values.tenant}: 0 entries, BROKEN`);
          console.log('  - no audit entries: none were written, all were deleted, or there is no such tenant');
          return 1;
        }
        let broken = false;
        for (const r of reports) {
          console.log(`${r.tenant_id}: ${r.entries} entries, ${r.problems.length ? 'BROKEN' : 'intact'}`);
          for (const p of r.problems) console.log(`  - ${p}`);
          broken ||= r.problems.length > 0;
        }
        return broken ? 1 : 0;
      }
      case 'seed-demo': {
        const { tenantId } = await createTenant(pool, 'Demo', { email: DEMO.adminEmail, password: DEMO.adminPassword, name: 'Demo Admin' }, DEMO.tenantId);
        const crypto = createFieldCrypto(config);
        await customerStore(pool, crypto)
          .create(operator(tenantId), DEMO.customerId, { name: 'Ada Customer', email: 'ada@example.com', phone: null, external_id: null })
          .catch((err) => {
            if ((err as { code?: string }).code !== 'conflict') throw err;
          });
        return 0;
      }
      default:
        console.error('commands: create-tenant, create-api-key, verify-audit, seed-demo (see api/cli/admin.ts)');
        return 2;
    }
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
