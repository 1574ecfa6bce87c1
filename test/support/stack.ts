/** An API instance listening on a real port, wired to the run's PostgreSQL, Redis and Temporal. */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { createApp } from '../../api/app';
import { type Config, loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { createLogger } from '../../platform/logger';
import { createRedis } from '../../platform/redis';
import { connectTemporal } from '../../platform/temporal';

export interface TestStack {
  url: string;
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  temporal: Client;
  close(): Promise<void>;
}

export async function startStack(overrides: Partial<Record<string, string>> = {}): Promise<TestStack> {
  const config = loadConfig({ ...process.env, ...overrides });
  const pool = createPool(config);
  const redis = createRedis(config);
  const temporal = await connectTemporal(config);
  const app = createApp({ config, pool, redis, temporal, log: createLogger(config, 'api-test') });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    pool,
    redis,
    temporal,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await Promise.allSettled([pool.end(), redis.quit(), temporal.connection.close()]);
    },
  };
}

export interface Tenant {
  id: string;
  agentId: string;
  customerId: string;
  headers: Record<string, string>;
}

/** A tenant with one customer, created straight in the database (tenant admin arrives with auth). */
export async function createTenant(pool: pg.Pool, name = 'Acme'): Promise<Tenant> {
  const id = randomUUID();
  const customerId = randomUUID();
  const agentId = randomUUID();
  await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
  await pool.query('INSERT INTO customers (id, tenant_id, name, email) VALUES ($1, $2, $3, $4)', [
    customerId,
    id,
    'Ada Customer',
    `ada-${customerId}@example.com`,
  ]);
  return { id, agentId, customerId, headers: { 'X-Deskflow-Tenant': id, 'X-Deskflow-Agent': agentId } };
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
  return { status: res.status, headers: res.headers, body: parsed as T };
}
