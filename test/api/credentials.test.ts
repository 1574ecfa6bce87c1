/**
 * Credentials against guessing and mix-ups: emails unique per tenant (no cross-tenant oracle), failed
 * API-key authentications throttled per source, password guessing locked per (account, source) and only
 * slowed account-wide, and Idempotency-Keys that belong to one credential.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mintApiKey } from '../../platform/api-keys';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  stack = await startStack();
  [acme, globex] = [await createTenant(stack, 'Acme'), await createTenant(stack, 'Globex')];
});
afterAll(() => stack?.close());

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
/** A fresh documentation address (RFC 3849) per call: each test's sources are its own. */
const address = () => `2001:db8:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`;
const loginAt = (target: { url: string }, body: Record<string, unknown>, source?: string) =>
  http(target, 'POST', '/api/v1/auth/login', { headers: source ? { 'X-Forwarded-For': source } : {}, body });
const addUser = (tenant: Tenant, email: string, password: string, role: 'admin' | 'agent' = 'agent') =>
  http(stack, 'POST', '/api/v1/users', { headers: tenant.admin.headers, body: { email, name: 'Pat Shared', role, password } });

describe('emails are unique per tenant, not across tenants', () => {
  it('POST /users with an email another tenant uses succeeds; the same email twice in one tenant is a 409', async () => {
    const email = `pat-${randomUUID()}@shared.test`;
    expect((await addUser(acme, email, 'pat password at acme')).status).toBe(201);
    const elsewhere = await addUser(globex, email, 'pat password at globex');
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.tenant_id).toBe(globex.id);
    const twice = await addUser(globex, email.toUpperCase(), 'another password entirely');
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('conflict');
  });

  it('an email in one tenant logs in with email and password alone, as before', async () => {
    const email = `solo-${randomUUID()}@acme.test`;
    await addUser(acme, email, 'solo password 12345');
    const res = await loginAt(stack, { email, password: 'solo password 12345' });
    expect(res.status).toBe(200);
    expect(claimsOf(res.body.access_token).tid).toBe(acme.id);
  });

  it('in several tenants, the password picks the account; when it fits several, the tenant must be named (422, no tenants listed)', async () => {
    const email = `twin-${randomUUID()}@shared.test`;
    const password = 'the same password in both';
    await addUser(acme, email, password);
    await addUser(globex, email, password);

    const ambiguous = await loginAt(stack, { email, password });
    expect(ambiguous.status).toBe(422);
    expect(ambiguous.body.code).toBe('tenant_required');
    expect(ambiguous.body.access_token).toBeUndefined();
    const text = JSON.stringify(ambiguous.body);
    expect(text).not.toContain(acme.id);
    expect(text).not.toContain(globex.id);

    for (const tenant of [acme, globex]) {
      const res = await loginAt(stack, { email, password, tenant_id: tenant.id });
      expect(res.status).toBe(200);
      expect(claimsOf(res.body.access_token).tid).toBe(tenant.id);
    }
    // A wrong password is the plain 401, however many accounts share the email.
    const wrong = await loginAt(stack, { email, password: 'not the password at all' });
    const unknown = await loginAt(stack, { email: `nobody-${randomUUID()}@nowhere.test`, password: 'not the password at all' });
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(wrong.body.detail).toBe(unknown.body.detail);
    // Naming a tenant the email does not belong to is the same 401.
    const third = await createTenant(stack, 'Initech');
    expect((await loginAt(stack, { email, password, tenant_id: third.id })).status).toBe(401);

    // Different passwords: each logs in to its own tenant without naming it.
    const other = `pair-${randomUUID()}@shared.test`;
    await addUser(acme, other, 'acme side password');
    await addUser(globex, other, 'globex side password');
    expect(claimsOf((await login(stack, other, 'acme side password')).token).tid).toBe(acme.id);
    expect(claimsOf((await login(stack, other, 'globex side password')).token).tid).toBe(globex.id);
  });
});

describe('failed API-key authentications have a per-source budget', () => {
  it('many wrong keys from one address: 429 with Retry-After, and no database look-up once the budget is spent', async () => {
    const limited = await startStack({ TRUST_PROXY: '1', API_KEY_FAILURES_PER_IP: '5' });
    const lookups: string[] = [];
    const query = limited.pool.query.bind(limited.pool);
    // Observe (not replace) the pool: count the key look-ups the API makes.
    limited.pool.query = ((...args: Parameters<typeof query>) => {
      if (typeof args[0] === 'string' && args[0].includes('auth_find_api_key')) lookups.push(args[0]);
      return query(...args);
    }) as typeof query;
    try {
      const key = await http(limited, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'good', scopes: ['tickets:read'] } });
      expect(key.status).toBe(201);
      const attacker = address();
      const list = (token: string, source: string) =>
        http(limited, 'GET', '/api/v1/tickets?limit=1', { headers: { ...bearer(token), 'X-Forwarded-For': source } });

      for (let i = 0; i < 4; i++) expect((await list(mintApiKey().token, attacker)).status).toBe(401); // well-formed, unknown
      expect((await list('dfk_not-a-real-key', attacker)).status).toBe(401); // malformed counts too
      expect(lookups).toHaveLength(4);

      for (let i = 0; i < 10; i++) {
        const refused = await list(mintApiKey().token, attacker);
        expect(refused.status).toBe(429);
        expect(refused.body.code).toBe('rate_limited');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(15 * 60);
        expect(refused.headers.get('ratelimit-policy')).toBe('"api-key-failures-ip";q=5;w=900');
      }
      expect(lookups).toHaveLength(4); // refused before the database
      // Even a valid key is refused from there (it cannot be told apart without the look-up)...
      expect((await list(key.body.token, attacker)).status).toBe(429);
      // ...but works from anywhere else, and access tokens are not affected.
      expect((await list(key.body.token, address())).status).toBe(200);
      expect((await list(acme.agent.token, attacker)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('password guessing: locked per (account, source), slowed account-wide', () => {
  let limited: TestStack;
  beforeAll(async () => {
    limited = await startStack({ TRUST_PROXY: '1', LOGIN_ATTEMPTS_PER_ACCOUNT: '3', LOGIN_SLOWDOWN_MAX: '600ms' });
  });
  afterAll(() => limited?.close());

  async function victim() {
    const email = `victim-${randomUUID()}@acme.test`;
    const password = 'the owner knows this one';
    expect((await addUser(acme, email, password)).status).toBe(201);
    return { email, password };
  }
  const timed = async <T>(fn: () => Promise<T>) => {
    const started = Date.now();
    const result = await fn();
    return { result, ms: Date.now() - started };
  };

  it("ten wrong passwords lock out the guesser's address, not the owner at another address", async () => {
    const { email, password } = await victim();
    const attacker = address();
    for (let i = 0; i < 3; i++) expect((await loginAt(limited, { email, password: `guess ${i} guess ${i}` }, attacker)).status).toBe(401);
    for (let i = 0; i < 7; i++) {
      const refused = await loginAt(limited, { email, password: `guess ${i} again!` }, attacker);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Even the right password is refused from the guesser's address...
    const right = await loginAt(limited, { email, password }, attacker);
    expect(right.status).toBe(429);
    expect(right.body.access_token).toBeUndefined();
    // ...while the owner logs in from elsewhere, slowed down (the account has had 3 failures) but not locked.
    const owner = await timed(() => loginAt(limited, { email, password }, address()));
    expect(owner.result.status).toBe(200);
    expect(owner.result.body.access_token).toEqual(expect.any(String));
    expect(owner.ms).toBeGreaterThanOrEqual(100);
  });

  it('guessing from many addresses slows every attempt down, up to LOGIN_SLOWDOWN_MAX, and never locks the owner out', async () => {
    const { email, password } = await victim();
    const before = await timed(() => loginAt(limited, { email, password: 'wrong but fast' }, address()));
    expect(before.result.status).toBe(401);
    for (let i = 0; i < 6; i++) expect((await loginAt(limited, { email, password: `spray ${i} spray` }, address())).status).toBe(401);
    // 7 failures, 3 free: the next attempt waits min(600 ms, 100 ms × 2^4).
    const owner = await timed(() => loginAt(limited, { email, password }, address()));
    expect(owner.result.status).toBe(200);
    expect(owner.ms).toBeGreaterThanOrEqual(600);
    expect(owner.ms).toBeLessThan(600 + 3000);
    expect(owner.ms).toBeGreaterThan(before.ms);
  });

  it("a successful login gives its address's budget for that account back", async () => {
    const { email, password } = await victim();
    const home = address();
    for (let i = 0; i < 2; i++) expect((await loginAt(limited, { email, password: `typo ${i} typo` }, home)).status).toBe(401);
    expect((await loginAt(limited, { email, password }, home)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await loginAt(limited, { email, password: `typo ${i} again` }, home)).status).toBe(401);
    expect((await loginAt(limited, { email, password }, home)).status).toBe(200);
  });
});

describe('Idempotency-Keys belong to one credential', () => {
  const mint = (headers: Record<string, string>, key: string, body: Record<string, unknown>) =>
    http(stack, 'POST', '/api/v1/api-keys', { headers: { ...headers, 'Idempotency-Key': key }, body });

  it("another credential of the tenant repeating key and body gets its own create, never the first one's secret", async () => {
    const key = `mint-${randomUUID()}`;
    const body = { name: 'integration', scopes: ['tickets:read'] };
    const first = await mint(acme.admin.headers, key, body);
    expect(first.status).toBe(201);

    const replay = await mint(acme.admin.headers, key, body);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.id).toBe(first.body.id);

    // A second admin of the same tenant (another user) and an API key allowed to mint keys.
    const email = `admin2-${randomUUID()}@acme.test`;
    await addUser(acme, email, 'second admin password', 'admin');
    const secondAdmin = bearer((await login(stack, email, 'second admin password')).token);
    const minter = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: acme.admin.headers,
      body: { name: 'minter', scopes: ['api_keys:manage', 'tickets:read'] },
    });
    for (const headers of [secondAdmin, bearer(minter.body.token)]) {
      const own = await mint(headers, key, body);
      expect(own.status).toBe(201);
      expect(own.headers.get('idempotent-replayed')).toBeNull();
      expect(own.body.id).not.toBe(first.body.id);
      expect(own.body.token).not.toBe(first.body.token);
      // ...and that credential's own retry replays its own create.
      const again = await mint(headers, key, body);
      expect(again.body.id).toBe(own.body.id);
    }
  });

  it('a credential lacking the scope gets a 403 even with a saved key and body', async () => {
    const key = `mint-${randomUUID()}`;
    const body = { name: 'integration', scopes: ['tickets:read'] };
    expect((await mint(acme.admin.headers, key, body)).status).toBe(201);
    const reader = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'reader', scopes: ['tickets:read'] } });
    for (const headers of [acme.agent.headers, bearer(reader.body.token)]) {
      const refused = await mint(headers, key, body);
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('forbidden');
      expect(refused.body.token).toBeUndefined();
      expect(refused.headers.get('idempotent-replayed')).toBeNull();
    }
  });

  it('the same user, demoted since, is refused (403) rather than replayed their saved response', async () => {
    const email = `soon-agent-${randomUUID()}@acme.test`;
    await addUser(acme, email, 'admin for a little while', 'admin');
    const asAdmin = bearer((await login(stack, email, 'admin for a little while')).token);
    const key = `mint-${randomUUID()}`;
    const body = { name: 'integration', scopes: ['tickets:read'] };
    const first = await mint(asAdmin, key, body);
    expect(first.status).toBe(201);
    const userId = claimsOf(asAdmin.Authorization.slice('Bearer '.length)).sub as string;
    expect((await http(stack, 'PATCH', `/api/v1/users/${userId}`, { headers: acme.admin.headers, body: { role: 'agent' } })).status).toBe(200);

    const asAgent = bearer((await login(stack, email, 'admin for a little while')).token);
    const refused = await mint(asAgent, key, body);
    expect(refused.status).toBe(403);
    expect(refused.body.token).toBeUndefined();
  });
});
