/**
 * Baseline (a): a bare Express 5 app and a pg Pool (max 20) with one route running the same SELECT as
 * `ticketStore.get` (tenant_id + id) and answering `res.json(row)`. No authentication, rate limit,
 * validation, request ids, logging, or row-level-security set-up: the floor for GET /api/v1/tickets/:id
 * on this machine.
 *
 * Deliberately barer than the API: the API checks a client out of its pool and sends a transaction-local
 * `set_config('app.tenant_id', $1, true)` with the SELECT, in the same round trip (platform/tenant-db.ts `withTenant`),
 * as the least-privilege role deskflow_app that row-level security applies to. This baseline connects as
 * the owner (run.ts passes DATABASE_ADMIN_URL as DATABASE_URL), which RLS does not filter, and runs the
 * one SELECT with `pool.query`. The tenant is fixed for the run (BENCH_TENANT_ID).
 *
 * Env: PORT, DATABASE_URL (the owner), BENCH_TENANT_ID, BARE_POOL_MAX (default 20).
 * Prints `bare-get listening <port>` when ready.
 */
import type { Server } from 'node:http';
import express from 'express';
import pg from 'pg';

// Same column list as stores/tickets.ts (TICKET_COLUMNS). run.ts checks the answers are identical.
const TICKET_COLUMNS = `id, tenant_id, subject, description, status, priority, channel, customer_id, assignee_id, group_id,
  tags, version, created_at, updated_at, first_agent_reply_at, solved_at, closed_at, sla`;
const GET_TICKET = `SELECT ${TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2`;

const tenantId = process.env.BENCH_TENANT_ID;
if (!tenantId) throw new Error('BENCH_TENANT_ID is required');
const port = Number(process.env.PORT ?? 0);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.BARE_POOL_MAX ?? 20) });

const app = express();
app.disable('x-powered-by');
app.set('etag', false); // like the real app, which sets its own ETag

app.get('/api/v1/tickets/:id', async (req, res) => {
  const { rows } = await pool.query(GET_TICKET, [tenantId, req.params.id]);
  if (rows.length === 0) return void res.status(404).json({ status: 404 });
  res.json(rows[0]);
});

const server: Server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`bare-get listening ${typeof address === 'object' && address ? address.port : port}`);
});
server.keepAliveTimeout = 65_000;

const stop = () => {
  server.close();
  server.closeIdleConnections();
  void pool.end().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
