/**
 * Rate limits, shared through Redis by every API process: per credential (default, tenant, key) and
 * login brute force (per account, per source address). Two API processes answer: this suite's
 * in-process stack and a real `api/main.ts` child process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PROBLEM_BASE } from '../../api/problem';
import { userStore } from '../../stores/users';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { createTenant, type HttpResult, http, operatorOf, startStack, type TestStack } from '../support/stack';

const LIMITS = { RATE_LIMIT_PER_MIN: '100', LOGIN_ATTEMPTS_PER_ACCOUNT: '3' };

let stack: TestStack;
let other: ApiProcess;

beforeAll(async () => {
  [stack, other] = await Promise.all([startStack(LIMITS), startApiProcess(LIMITS)]);
});
afterAll(async () => {
  await other?.stop();
  await stack?.close();
});

/** `RateLimit: "<name>";r=<remaining>;t=<seconds>` → its numbers (and checks the format). */
function rateLimitOf(res: HttpResult, name: string): { remaining: number; reset: number } {
  const header = res.headers.get('ratelimit') ?? '';
  const match = new RegExp(`^"${name}";r=(\\d+);t=(\\d+)$`).exec(header);
  if (!match) throw new Error(`bad RateLimit header: ${JSON.stringify(header)}`);
  const reset = Number(match[2]);
  expect(reset).toBeGreaterThanOrEqual(0);
  expect(reset).toBeLessThanOrEqual(60 * 15);
  return { remaining: Number(match[1]), reset };
}

function expectRateLimited(res: HttpResult, policy: string, windowSec: number) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `${PROBLEM_BASE}rate_limited`, status: 429, code: 'rate_limited', title: expect.any(String) });
  const retryAfter = res.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowSec);
  expect(res.headers.get('ratelimit-policy')).toBe(policy);
}

/** Alternates between the two processes: even calls in-process, odd calls to the child. */
const either = (i: number) => (i % 2 === 0 ? stack : other);
const list = (target: { url: string }, headers: Record<string, string>) => http(target, 'GET', '/api/v1/tickets?limit=1', { headers });

describe('per credential', () => {
  it('the 101st request in a minute is a 429 problem with Retry-After; the counter is shared by both processes', async () => {
    const acme = await createTenant(stack, 'Acme');
    const remaining: number[] = [];
    for (let i = 0; i < 100; i++) {
      const res = await list(either(i), acme.agent.headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"default";q=100;w=60');
      const state = rateLimitOf(res, 'default');
      expect(state.reset).toBeLessThanOrEqual(60);
      remaining.push(state.remaining);
    }
    // One counter: each answer, from either process, counts down from the previous one.
    expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));

    const refused = await list(other, acme.agent.headers);
    expectRateLimited(refused, '"default";q=100;w=60', 60);
    expect(rateLimitOf(refused, 'default').remaining).toBe(0);
    expectRateLimited(await list(stack, acme.agent.headers), '"default";q=100;w=60', 60);

    // Another credential of the same tenant has its own budget.
    const admin = await list(stack, acme.admin.headers);
    expect(admin.status).toBe(200);
    expect(rateLimitOf(admin, 'default').remaining).toBe(99);
  });

  it("a tenant's own limit (PATCH /tenant) applies to its users and keys", async () => {
    const small = await createTenant(stack, 'Small');
    const patched = await http(stack, 'PATCH', '/api/v1/tenant', { headers: small.admin.headers, body: { rate_limit_per_min: 5 } });
    expect(patched.status).toBe(200);
    expect(patched.body.rate_limit_per_min).toBe(5);

    for (let i = 0; i < 5; i++) {
      const res = await list(either(i), small.agent.headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"default";q=5;w=60');
      expect(rateLimitOf(res, 'default').remaining).toBe(4 - i);
    }
    expectRateLimited(await list(other, small.agent.headers), '"default";q=5;w=60', 60);

    // A key without its own limit falls under the tenant's.
    const key = await http(stack, 'POST', '/api/v1/api-keys', { headers: small.admin.headers, body: { name: 'integration', scopes: ['tickets:read'] } });
    expect(key.status).toBe(201);
    const viaKey = await list(stack, { Authorization: `Bearer ${key.body.token}` });
    expect(viaKey.status).toBe(200);
    expect(viaKey.headers.get('ratelimit-policy')).toBe('"default";q=5;w=60');

    // Other tenants keep the default.
    const acme = await createTenant(stack, 'Acme');
    expect((await list(stack, acme.agent.headers)).headers.get('ratelimit-policy')).toBe('"default";q=100;w=60');
  });

  it("an API key's own limit applies, on every process", async () => {
    const acme = await createTenant(stack, 'Acme');
    const created = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: acme.admin.headers,
      body: { name: 'slow integration', scopes: ['tickets:read'], rate_limit_per_min: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.body.rate_limit_per_min).toBe(3);
    const headers = { Authorization: `Bearer ${created.body.token}` };
    for (let i = 0; i < 3; i++) {
      const res = await list(either(i), headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"default";q=3;w=60');
      expect(rateLimitOf(res, 'default').remaining).toBe(2 - i);
    }
    expectRateLimited(await list(other, headers), '"default";q=3;w=60', 60);
    expectRateLimited(await list(stack, headers), '"default";q=3;w=60', 60);
    // The admin who minted it is not limited by the key's budget.
    expect((await list(stack, acme.admin.headers)).status).toBe(200);
  });
});

describe('login brute force', () => {
  const loginAt = (target: { url: string }, email: string, password: string, headers: Record<string, string> = {}) =>
    http(target, 'POST', '/api/v1/auth/login', { headers, body: { email, password } });

  it('per account and address: after LOGIN_ATTEMPTS_PER_ACCOUNT attempts from one address even the right password is a 429 from there, on both processes', async () => {
    const acme = await createTenant(stack, 'Acme');
    const email = `victim-${randomUUID()}@acme.test`;
    const password = 'the right password, at last';
    await userStore(stack.admin).create(operatorOf(acme.id), { email, password, name: 'Victim', role: 'agent' });

    const tries = [
      await loginAt(stack, email, 'guess number one'),
      await loginAt(other, email.toUpperCase(), 'guess number two'), // the same account, however it is spelled
      await loginAt(stack, email, 'guess number three'),
    ];
    expect(tries.map((r) => r.status)).toEqual([401, 401, 401]);
    // Both limits a login is under are reported.
    const policy = '"login-ip";q=100000;w=900, "login-account-ip";q=3;w=900';
    expect(tries.map((r) => r.headers.get('ratelimit-policy'))).toEqual([policy, policy, policy]);
    expect(tries.map((r) => /"login-account-ip";r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1])).toEqual(['2', '1', '0']);

    const right = await loginAt(other, email, password);
    expectRateLimited(right, policy, 900);
    expect(right.body.access_token).toBeUndefined();
    expectRateLimited(await loginAt(stack, email, password), policy, 900);

    // Only that account is locked: another one logs in from the same address.
    expect((await loginAt(stack, acme.admin.email, acme.admin.password)).status).toBe(200);
  });

  it('per source address: after LOGIN_ATTEMPTS_PER_IP attempts from one address, any account is a 429 from there', async () => {
    const perIp = await startStack({ LOGIN_ATTEMPTS_PER_IP: '5', TRUST_PROXY: '1' });
    try {
      const acme = await createTenant(stack, 'Acme');
      // Behind one trusted proxy the client address is X-Forwarded-For; each test run gets fresh addresses.
      const attacker = { 'X-Forwarded-For': `2001:db8::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}` };
      const bystander = { 'X-Forwarded-For': `2001:db8:1::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}` };
      for (let i = 0; i < 5; i++) {
        const res = await loginAt(perIp, `sprayed-${randomUUID()}@acme.test`, 'Winter2025!Winter2025!', attacker);
        expect(res.status).toBe(401);
        expect(res.headers.get('ratelimit-policy')).toBe('"login-ip";q=5;w=900, "login-account-ip";q=100000;w=900');
        expect(/"login-ip";r=(\d+)/.exec(res.headers.get('ratelimit') ?? '')?.[1]).toBe(String(4 - i));
      }
      const refused = await loginAt(perIp, acme.agent.email, acme.agent.password, attacker);
      expectRateLimited(refused, '"login-ip";q=5;w=900', 900);
      expect(refused.body.access_token).toBeUndefined();

      const fromElsewhere = await loginAt(perIp, acme.agent.email, acme.agent.password, bystander);
      expect(fromElsewhere.status).toBe(200);
      expect(fromElsewhere.body.access_token).toEqual(expect.any(String));
    } finally {
      await perIp.close();
    }
  });
});
