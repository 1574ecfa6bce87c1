/** An API instance listening on a real port, wired to the run's PostgreSQL, Redis and Temporal. */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { type AppDeps, createApp } from '../../api/app';
import { attachLiveServer, type LiveServer } from '../../api/live/server';
import { customerStore } from '../../stores/customers';
import type { Identity } from '../../domain/identity';
import { userStore } from '../../stores/users';
import { SCOPES } from '../../domain/auth';
import { type Config, loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { createFieldCrypto } from '../../platform/field-crypto';
import { createLogger } from '../../platform/logger';
import { createRedis } from '../../platform/redis';
import { connectTemporal } from '../../platform/temporal';
import { openApiChecker } from './openapi-check';
import { freePort } from './processes';

export interface TestStack {
  url: string;
  config: Config;
  /** The application role's pool (RLS applies). */
  pool: pg.Pool;
  /** The owner's pool, for setting up and inspecting rows across tenants. */
  admin: pg.Pool;
  redis: Redis;
  temporal: Client;
  /** The live-updates WebSocket server on this API (`ws://…/api/v1/live`). */
  live: LiveServer;
  close(): Promise<void>;
}

export async function startStack(overrides: Partial<Record<string, string>> = {}): Promise<TestStack> {
  const config = loadConfig({ ...process.env, ...overrides });
  const pool = createPool(config);
  const admin = new pg.Pool({ connectionString: config.DATABASE_ADMIN_URL, max: 3 });
  const redis = createRedis(config);
  const temporal = await connectTemporal(config);
  const app = createApp({ config, pool, redis, temporal, log: createLogger(config, 'api-test') });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const live = attachLiveServer(server, { config, pool, redis, log: createLogger(config, 'live-test') });
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    pool,
    admin,
    redis,
    temporal,
    live,
    async close() {
      await live.drain(1000);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await Promise.allSettled([pool.end(), admin.end(), redis.quit(), temporal.connection.close()]);
    },
  };
}

/** A second API on the stack's database, Redis and storage, with its own Temporal client or logger when given. */
export async function startExtraApi(
  stack: TestStack,
  { temporal = stack.temporal, log = createLogger(stack.config, 'extra-api') }: { temporal?: Client; log?: AppDeps['log'] } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const app = createApp({ config: stack.config, pool: stack.pool, redis: stack.redis, temporal, log });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A second API whose Temporal client points at a port nothing listens on: every write that goes through a workflow
 * answers 503 service_unavailable at once (no gRPC retries; production retries a few seconds first, then answers the
 * same way).
 */
export async function startApiWithTemporalDown(stack: TestStack): Promise<{ url: string; close(): Promise<void> }> {
  const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] });
  return startExtraApi(stack, { temporal: new Client({ connection, namespace: stack.config.TEMPORAL_NAMESPACE }) });
}

export interface Member {
  id: string;
  email: string;
  password: string;
  token: string;
  refreshToken: string;
  headers: Record<string, string>;
}

export interface Tenant {
  id: string;
  customerId: string;
  admin: Member;
  agent: Member;
  /** The agent's id and Authorization header: what most ticket tests act as. */
  agentId: string;
  headers: Record<string, string>;
}

export const operatorOf = (tenantId: string): Identity => ({
  tenantId,
  actor: { type: 'system', id: 'test-setup' },
  scopes: new Set(SCOPES),
  credential: { kind: 'system' },
});

/** A tenant with an admin, an agent (both logged in over HTTP) and one customer. */
export async function createTenant(stack: TestStack, name = 'Acme'): Promise<Tenant> {
  const id = randomUUID();
  await stack.admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
  const users = userStore(stack.admin);
  const member = async (role: 'admin' | 'agent'): Promise<Member> => {
    const email = `${role}-${randomUUID()}@${name.toLowerCase()}.test`;
    const password = `correct horse battery ${role}`;
    const user = await users.create(operatorOf(id), { email, password, name: `${name} ${role}`, role });
    const { token, refreshToken } = await login(stack, email, password);
    return { id: user.id, email, password, token, refreshToken, headers: { Authorization: `Bearer ${token}` } };
  };
  const [admin, agent] = [await member('admin'), await member('agent')];
  const customer = await customerStore(stack.admin, createFieldCrypto(stack.config)).create(operatorOf(id), randomUUID(), {
    name: 'Ada Customer',
    email: `ada-${randomUUID()}@example.com`,
    phone: null,
    external_id: null,
  });
  return { id, customerId: customer.id, admin, agent, agentId: agent.id, headers: agent.headers };
}

export async function login(stack: { url: string }, email: string, password: string) {
  const res = await http(stack, 'POST', '/api/v1/auth/login', { body: { email, password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A real HTTP call. `body` may be an object (sent as JSON) or a raw string. */
export async function http<T = any>(
  stack: { url: string },
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(stack.url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the raw text
  }
  if (path.startsWith('/api/v1/')) {
    (await openApiChecker(stack.url)).check(method, path, res.status, res.headers.get('content-type'), parsed);
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}
