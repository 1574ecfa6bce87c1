/**
 * Operator commands (run as the database owner, DATABASE_ADMIN_URL):
 *   npm run admin -- create-tenant --name <name> --admin-email <email> --admin-password <pw> [--admin-name <name>]
 *   npm run admin -- create-api-key --tenant <id> --name <name> [--scopes tickets:read,tickets:write]
 *   npm run admin -- verify-audit [--tenant <id>] [--anchor <file or JSON line>]
 *   npm run admin -- audit-head [--tenant <id>]     (signed anchors, one JSON line per tenant: store them elsewhere)
 *   npm run admin -- seed-demo
 *   npm run admin -- webhooks-pause [--tenant <id>] [--reason <text>]   (an incident switch; nothing is dropped)
 *   npm run admin -- webhooks-resume [--tenant <id>]
 *   npm run admin -- sweep-attachments [--older-than 1h]   (uploads never linked to a message)
 *   npm run admin -- archive-now [--wait]                  (run the archival schedule once, now)
 *   npm run admin -- backup --out <dir>                    (database + object store, with a manifest; docs/backup.md)
 *   npm run admin -- restore --from <dir> [--force]        (into an empty database and store, or replacing them)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { ZodError } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { CreateApiKeyInput, CreateUserInput, SCOPES } from '../../domain/auth';
import { type AuditAnchor, auditHeads, checkAuditAnchors, parseAuditAnchors, signAuditAnchor, verifyAuditChain } from '../audit';
import { loadConfig } from '../config';
import { createPool } from '../db';
import { createFieldCrypto, type FieldCrypto } from '../field-crypto';
import { DEMO } from '../demo';
import { apiKeyStore } from '../../stores/api-keys';
import { customerStore } from '../../stores/customers';
import type { Identity } from '../../domain/identity';
import { tenantStore } from '../../stores/tenants';
import { RELEASE_ALL_PAUSED } from '../../stores/webhook-deliveries';
import { sweepUnlinkedAttachments } from '../../stores/attachments';
import { createObjectStorage } from '../object-storage';
import { createBackup } from '../backup/backup';
import { restoreBackup } from '../backup/restore';
import { msToNumber } from '@temporalio/common/lib/time';
import { archivalScheduleId } from '../../domain/archive';
import { connectTemporal } from '../temporal';
import { userStore } from '../../stores/users';

const operator = (tenantId: string): Identity => ({
  tenantId,
  actor: { type: 'system', id: 'admin-cli' },
  scopes: new Set(SCOPES),
  credential: { kind: 'system' },
});

async function createTenant(
  pool: pg.Pool,
  crypto: FieldCrypto,
  name: string,
  admin: { email: string; password: string; name: string },
  id: string = randomUUID(),
) {
  const input = CreateUserInput.parse({ email: admin.email, password: admin.password, name: admin.name, role: 'admin' });
  const tenants = tenantStore(pool, crypto);
  const users = userStore(pool);
  const created = await tenants.create(id, name);
  try {
    // Emails are unique per tenant: only this tenant's user with that email counts (re-running seed-demo).
    const user = (await users.findByEmail(id, input.email)) ?? (await users.create(operator(id), input));
    return { tenantId: id, adminId: user.id };
  } catch (err) {
    // No tenant without its admin: undo what this call created.
    if (created) await tenants.remove(id);
    throw err;
  }
}

/** Says so in one line when `id` names no tenant (or is no tenant id at all). */
async function tenantExists(pool: pg.Pool, crypto: FieldCrypto, id: string): Promise<boolean> {
  const valid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
  if (valid && (await tenantStore(pool, crypto).exists(id))) return true;
  console.log(valid ? `${id}: unknown tenant` : `${id}: not a tenant id`);
  return false;
}

const COMMANDS: Record<string, { usage: string; summary: string }> = {
  'create-tenant': {
    usage: 'create-tenant --name <name> --admin-email <email> --admin-password <12+ characters> [--admin-name <name>]',
    summary: 'a new tenant and its first admin; prints {tenant_id, admin_user_id}',
  },
  'create-api-key': {
    usage: 'create-api-key --tenant <id> --name <name> [--scopes tickets:read,tickets:write,…]',
    summary: 'an API key of the tenant (all scopes unless --scopes); prints the key once',
  },
  'verify-audit': {
    usage: 'verify-audit [--tenant <id>] [--anchor <file or JSON line>]',
    summary: 'recompute the audit hash chain (and check signed heads); exit 1 if it is broken',
  },
  'audit-head': { usage: 'audit-head [--tenant <id>]', summary: "print each tenant's signed audit-chain head, to store outside the database" },
  'seed-demo': { usage: 'seed-demo', summary: 'the demo tenant, admin and customer of `npm start` (idempotent)' },
  'webhooks-pause': {
    usage: 'webhooks-pause [--tenant <id>] [--reason <text>]',
    summary: 'pause webhook delivery for every tenant (or one): deliveries wait, nothing is dropped',
  },
  'webhooks-resume': { usage: 'webhooks-resume [--tenant <id>]', summary: 'lift that pause; what it held back is due at once' },
  'sweep-attachments': {
    usage: 'sweep-attachments [--older-than <duration, default 1h>]',
    summary: 'delete uploaded files never linked to a message (a write whose outcome was unknown and never applied)',
  },
  'archive-now': {
    usage: 'archive-now [--wait]',
    summary: "run the archival schedule once now (skipped if a run is going); --wait prints the run's totals",
  },
  backup: {
    usage: 'backup --out <new or empty directory>',
    summary: 'the database (pg_dump) and every stored object, with a manifest of sizes and SHA-256 (docs/backup.md)',
  },
  restore: {
    usage: 'restore --from <backup directory> [--force]',
    summary: 'a backup into an empty database and object store (--force replaces what is there); checked against the manifest',
  },
};

function help(command?: string): string {
  if (command && COMMANDS[command]) return `usage: npm run admin -- ${COMMANDS[command].usage}\n  ${COMMANDS[command].summary}`;
  return ['usage: npm run admin -- <command> [options]   (<command> --help for its options)', '', 'commands:']
    .concat(Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`))
    .join('\n');
}

/** Progress of long commands, on stderr (stdout carries the one JSON result). */
const progress = (message: string) => console.error(message);

/** One readable line for any failure: the field and rule for bad input, the message for everything else. */
function oneLine(err: unknown): string {
  if (err instanceof ZodError) return err.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
  if (err instanceof DeskflowError) return err.message;
  return (err as Error)?.message ?? String(err);
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || command === '--help' || command === 'help') {
    console.log(help());
    return command ? 0 : 2;
  }
  if (!COMMANDS[command]) {
    console.error(`unknown command "${command}"\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(help(command));
    return 0;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      'admin-email': { type: 'string' },
      'admin-password': { type: 'string' },
      'admin-name': { type: 'string' },
      tenant: { type: 'string' },
      scopes: { type: 'string' },
      anchor: { type: 'string' },
      reason: { type: 'string' },
      'older-than': { type: 'string' },
      wait: { type: 'boolean' },
      out: { type: 'string' },
      from: { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  const config = loadConfig();
  // createPool: a connection PostgreSQL ends while idle is dropped, not an uncaught 'error' that ends the command.
  const pool = createPool({ DATABASE_URL: config.DATABASE_ADMIN_URL, DATABASE_POOL_MAX: 2, DATABASE_POOL_MIN: 0 });
  const crypto = createFieldCrypto(config);
  try {
    switch (command) {
      case 'create-tenant': {
        if (!values.name || !values['admin-email'] || !values['admin-password']) throw new Error('need --name, --admin-email and --admin-password');
        const { tenantId, adminId } = await createTenant(pool, crypto, values.name, {
          email: values['admin-email'],
          password: values['admin-password'],
          name: values['admin-name'] ?? values['admin-email'],
        });
        console.log(JSON.stringify({ tenant_id: tenantId, admin_user_id: adminId }));
        return 0;
      }
      case 'create-api-key': {
        if (!values.tenant || !values.name) throw new Error('need --tenant and --name');
        if (!(await tenantExists(pool, crypto, values.tenant))) return 1;
        const input = CreateApiKeyInput.parse({ name: values.name, scopes: values.scopes ? values.scopes.split(',') : [...SCOPES] });
        const { key, token } = await apiKeyStore(pool).create(operator(values.tenant), randomUUID(), input);
        console.log(JSON.stringify({ id: key.id, prefix: key.prefix, scopes: key.scopes, token }));
        return 0;
      }
      case 'verify-audit': {
        if (values.tenant !== undefined && !(await tenantExists(pool, crypto, values.tenant))) return 1;
        let anchors: AuditAnchor[] = [];
        if (values.anchor !== undefined) {
          // A JSON line as given, or a file of them (e.g. every anchor taken so far): all must be genuine, the newest must hold.
          anchors = parseAuditAnchors(values.anchor.trim().startsWith('{') ? values.anchor : readFileSync(values.anchor, 'utf8'));
          if (values.tenant) anchors = anchors.filter((a) => a.tenant_id === values.tenant);
          if (anchors.length === 0) throw new Error(values.tenant ? `no anchor for tenant ${values.tenant}` : 'no anchor given');
          for (const t of new Set(anchors.map((a) => a.tenant_id))) if (!values.tenant && !(await tenantExists(pool, crypto, t))) return 1;
        }
        const tenants = values.tenant ? [values.tenant] : anchors.length ? [...new Set(anchors.map((a) => a.tenant_id))] : [undefined];
        const reports = (await Promise.all(tenants.map((t) => verifyAuditChain(pool, t)))).flat();
        for (const t of tenants) {
          if (t && !reports.some((r) => r.tenant_id === t)) reports.push({ tenant_id: t, entries: 0, problems: [] });
        }
        let broken = false;
        for (const r of reports) {
          const mine = anchors.filter((a) => a.tenant_id === r.tenant_id);
          if (mine.length) r.problems.push(...(await checkAuditAnchors(pool, config.FIELD_ENCRYPTION_KEYS, mine)));
          // Nothing verified is not a pass: the whole trail may have been deleted.
          if (r.entries === 0 && !mine.some((a) => a.seq === 0)) r.problems.push('no audit entries: none were written, or all were deleted');
          console.log(`${r.tenant_id}: ${r.entries} entries, ${r.problems.length ? 'BROKEN' : 'intact'}`);
          for (const p of r.problems) console.log(`  - ${p}`);
          if (!r.problems.length && mine.length) console.log(`  anchored head at entry ${Math.max(...mine.map((a) => a.seq))}: present and unchanged`);
          broken ||= r.problems.length > 0;
        }
        return broken ? 1 : 0;
      }
      case 'audit-head': {
        if (values.tenant !== undefined && !(await tenantExists(pool, crypto, values.tenant))) return 1;
        for (const head of await auditHeads(pool, values.tenant)) console.log(JSON.stringify(signAuditAnchor(config.FIELD_ENCRYPTION_KEYS, head)));
        return 0;
      }
      case 'seed-demo': {
        const { tenantId } = await createTenant(
          pool,
          crypto,
          'Demo',
          { email: DEMO.adminEmail, password: DEMO.adminPassword, name: 'Demo Admin' },
          DEMO.tenantId,
        );
        await customerStore(pool, crypto)
          .create(operator(tenantId), DEMO.customerId, { name: 'Ada Customer', email: 'ada@example.com', phone: null, external_id: null })
          .catch((err) => {
            if ((err as { code?: string }).code !== 'conflict') throw err;
          });
        return 0;
      }
      case 'webhooks-pause':
      case 'webhooks-resume': {
        const paused = command === 'webhooks-pause';
        if (values.tenant !== undefined) {
          if (!(await tenantExists(pool, crypto, values.tenant))) return 1;
          const settings = await tenantStore(pool, crypto).patch(operator(values.tenant), { webhooks_paused: paused });
          console.log(JSON.stringify({ tenant_id: values.tenant, webhooks_paused_at: settings.webhooks_paused_at }));
          return 0;
        }
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const { rows } = await client.query(
            `UPDATE webhook_global_pause SET paused_at = CASE WHEN $1 THEN coalesce(paused_at, now()) END, reason = CASE WHEN $1 THEN $2 END
             RETURNING paused_at, reason`,
            [paused, values.reason ?? null],
          );
          // Resumed: every tenant's deliveries the pause held back are due now (the owner's connection sees all tenants).
          const released = paused ? 0 : (await client.query(RELEASE_ALL_PAUSED)).rowCount;
          await client.query('COMMIT');
          console.log(JSON.stringify({ scope: 'all tenants', paused_at: rows[0]?.paused_at ?? null, reason: rows[0]?.reason ?? null, released }));
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
        return 0;
      }
      case 'sweep-attachments': {
        const olderThan = msToNumber((values['older-than'] ?? '1h') as Parameters<typeof msToNumber>[0]);
        // Far longer than any write waits for its workflow (TICKET_WRITE_TIMEOUT): a file in flight is never swept.
        if (olderThan < config.TICKET_WRITE_TIMEOUT * 2) throw new Error(`--older-than must be at least twice TICKET_WRITE_TIMEOUT`);
        const storage = createObjectStorage(config);
        try {
          let swept = 0;
          for (let n = -1; n !== 0; swept += n) n = await sweepUnlinkedAttachments(pool, storage, new Date(Date.now() - olderThan));
          console.log(JSON.stringify({ swept }));
        } finally {
          await storage.close();
        }
        return 0;
      }
      case 'backup': {
        if (!values.out) throw new Error('need --out <directory>');
        const storage = createObjectStorage(config);
        try {
          const report = await createBackup(
            { adminUrl: config.DATABASE_ADMIN_URL, pgBinDir: config.PG_BIN_DIR, lockWaitMs: config.BACKUP_LOCK_WAIT, storage, progress },
            values.out,
          );
          for (const key of report.objects.missing) console.error(`warning: object ${key} is referenced by the database but was not in the store when copied`);
          for (const problem of report.problems) console.error(`error: ${problem}`);
          console.log(JSON.stringify(report));
          return report.problems.length ? 1 : 0;
        } finally {
          await storage.close();
        }
      }
      case 'restore': {
        if (!values.from) throw new Error('need --from <backup directory>');
        const storage = createObjectStorage(config);
        try {
          const report = await restoreBackup({ adminUrl: config.DATABASE_ADMIN_URL, pgBinDir: config.PG_BIN_DIR, storage, crypto, progress }, values.from, {
            force: values.force === true,
          });
          for (const warning of report.warnings) console.error(`warning: ${warning}`);
          console.log(JSON.stringify(report));
          return 0;
        } finally {
          await storage.close();
        }
      }
      case 'archive-now': {
        // Through the schedule (created by every worker at start), so its overlap policy keeps this from racing a run.
        const temporal = await connectTemporal(config);
        try {
          const schedule = temporal.schedule.getHandle(archivalScheduleId(config.TEMPORAL_TASK_QUEUE));
          const before = new Set((await schedule.describe()).info.recentActions.map((a) => a.action.workflow.workflowId));
          await schedule.trigger();
          if (!values.wait) {
            console.log(JSON.stringify({ schedule: schedule.scheduleId, triggered: true }));
            return 0;
          }
          const triggered = Date.now();
          for (;;) {
            const info = (await schedule.describe()).info;
            const fresh = [...info.runningActions, ...info.recentActions.map((a) => a.action)].map((a) => a.workflow).find((w) => !before.has(w.workflowId));
            // Nothing new after a while but a run going: the trigger was skipped (overlap) and that run covers it.
            const started = fresh ?? (Date.now() - triggered > 3000 ? info.runningActions[0]?.workflow : undefined);
            if (started) {
              const totals = (await temporal.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result()) as Record<string, unknown>;
              console.log(JSON.stringify({ schedule: schedule.scheduleId, workflow_id: started.workflowId, ...totals }));
              return 0;
            }
            if (Date.now() - triggered > 60_000) throw new Error('the schedule started no run within 60 s (one may be running: see the Temporal UI)');
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        } finally {
          await temporal.connection.close();
        }
      }
      default:
        return 2; // unreachable: checked against COMMANDS above
    }
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${oneLine(err)}`);
    process.exit(1);
  },
);
