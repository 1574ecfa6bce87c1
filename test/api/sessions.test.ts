/**
 * A change of who a user is (deactivated, demoted, password changed) takes effect at once, for every
 * access token, refresh token and session they hold, on every API process; other changes end nothing.
 * Token answers and authenticated reads are never cached.
 */
import { randomUUID } from 'node:crypto';
import { SCOPES } from '../../domain/auth';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let peer: TestStack; // a second API instance: revocation must not depend on which process answers
let acme: Tenant;

beforeAll(async () => {
  [stack, peer] = await Promise.all([startStack(), startStack()]);
  acme = await createTenant(stack, 'Acme');
});
afterAll(async () => {
  await peer?.close();
  await stack?.close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const listTickets = (target: { url: string }, token: string) => http(target, 'GET', '/api/v1/tickets?limit=1', { headers: bearer(token) });
const refresh = (refreshToken: string) => http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } });
const patchUser = (id: string, body: Record<string, unknown>) => http(stack, 'PATCH', `/api/v1/users/${id}`, { headers: acme.admin.headers, body });
const openTicket = (token: string) =>
  http(stack, 'POST', '/api/v1/tickets', {
    headers: bearer(token),
    body: { subject: 'Printer on fire', description: 'Smoke everywhere', customer_id: acme.customerId },
  });
const ALL_SCOPES_KEY = { name: 'everything', scopes: [...SCOPES] };

/** A new user of Acme, added over HTTP by Acme's admin, and logged in. */
async function newUser(role: 'admin' | 'agent') {
  const email = `${role}-${randomUUID()}@acme.test`;
  const password = `a long ${role} password ${randomUUID()}`;
  const created = await http(stack, 'POST', '/api/v1/users', { headers: acme.admin.headers, body: { email, name: `New ${role}`, role, password } });
  expect(created.status).toBe(201);
  return { id: created.body.id as string, email, password, ...(await login(stack, email, password)) };
}

/** Every way the old credentials could still be used is a 401, on both API processes. */
async function expectAllRefused(session: { token: string; refreshToken: string }) {
  for (const target of [stack, peer]) {
    const res = await listTickets(target, session.token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthenticated');
  }
  expect((await openTicket(session.token)).status).toBe(401);
  const refreshed = await refresh(session.refreshToken);
  expect(refreshed.status).toBe(401);
  expect(refreshed.body.access_token).toBeUndefined();
}

describe('deactivation', () => {
  it('ends every session at once: access tokens 401 on every process, refresh 401, login 401; reactivation needs a new login', async () => {
    const agent = await newUser('agent');
    const second = await login(stack, agent.email, agent.password); // another device
    expect((await listTickets(peer, agent.token)).status).toBe(200); // the peer has verified (and cached) the token
    expect((await openTicket(agent.token)).status).toBe(201);

    expect((await patchUser(agent.id, { active: false })).status).toBe(200);
    await expectAllRefused(agent);
    await expectAllRefused(second);
    expect((await http(stack, 'POST', '/api/v1/auth/login', { body: { email: agent.email, password: agent.password } })).status).toBe(401);

    expect((await patchUser(agent.id, { active: true })).status).toBe(200);
    await expectAllRefused(agent); // the old sessions stay ended
    const again = await login(stack, agent.email, agent.password);
    expect((await listTickets(peer, again.token)).status).toBe(200);
  });

  it("API keys an admin minted survive the admin's deactivation (they are the tenant's integration credentials)", async () => {
    const admin = await newUser('admin');
    const key = await http(stack, 'POST', '/api/v1/api-keys', { headers: bearer(admin.token), body: { name: 'crm sync', scopes: ['tickets:read'] } });
    expect(key.status).toBe(201);
    expect((await patchUser(admin.id, { active: false })).status).toBe(200);
    expect((await listTickets(stack, admin.token)).status).toBe(401);
    expect((await listTickets(stack, key.body.token)).status).toBe(200);
    // Revoking them stays an explicit act of another admin.
    expect((await http(stack, 'DELETE', `/api/v1/api-keys/${key.body.id}`, { headers: acme.admin.headers })).status).toBe(204);
    expect((await listTickets(stack, key.body.token)).status).toBe(401);
  });
});

describe('demotion (admin → agent)', () => {
  it('the admin token dies at once, refresh mints no admin token, and the new agent token cannot mint all-scope keys', async () => {
    const admin = await newUser('admin');
    expect(claimsOf(admin.token).role).toBe('admin');
    expect((await http(stack, 'POST', '/api/v1/api-keys', { headers: bearer(admin.token), body: ALL_SCOPES_KEY })).status).toBe(201);

    expect((await patchUser(admin.id, { role: 'agent' })).status).toBe(200);
    const mint = await http(stack, 'POST', '/api/v1/api-keys', { headers: bearer(admin.token), body: ALL_SCOPES_KEY });
    expect(mint.status).toBe(401);
    expect(mint.body.token).toBeUndefined();
    expect((await http(peer, 'GET', '/api/v1/users', { headers: bearer(admin.token) })).status).toBe(401);
    await expectAllRefused(admin);

    const relogged = await login(stack, admin.email, admin.password);
    expect(claimsOf(relogged.token).role).toBe('agent');
    const refused = await http(stack, 'POST', '/api/v1/api-keys', { headers: bearer(relogged.token), body: ALL_SCOPES_KEY });
    expect(refused.status).toBe(403);
    expect(refused.body.token).toBeUndefined();
    expect((await listTickets(stack, relogged.token)).status).toBe(200); // an agent still works as an agent
  });

  it('a promotion ends nothing, and the next refresh carries the new role (refresh re-reads the user)', async () => {
    const agent = await newUser('agent');
    expect((await patchUser(agent.id, { role: 'admin' })).status).toBe(200);
    expect((await listTickets(stack, agent.token)).status).toBe(200);
    expect((await http(stack, 'GET', '/api/v1/users', { headers: bearer(agent.token) })).status).toBe(403); // old claims: agent
    const refreshed = await refresh(agent.refreshToken);
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token).role).toBe('admin');
    expect((await http(stack, 'GET', '/api/v1/users', { headers: bearer(refreshed.body.access_token) })).status).toBe(200);
  });
});

describe('password change', () => {
  it('ends every session of the user; the old password is refused and the new one works', async () => {
    const agent = await newUser('agent');
    const second = await login(stack, agent.email, agent.password);
    const newPassword = `an entirely new password ${randomUUID()}`;

    expect((await patchUser(agent.id, { password: newPassword })).status).toBe(200);
    await expectAllRefused(agent);
    await expectAllRefused(second);
    expect((await http(stack, 'POST', '/api/v1/auth/login', { body: { email: agent.email, password: agent.password } })).status).toBe(401);
    const fresh = await login(stack, agent.email, newPassword);
    expect((await listTickets(peer, fresh.token)).status).toBe(200);
    expect((await refresh(fresh.refreshToken)).status).toBe(200);
  });

  it('an admin changing their own password ends their own sessions too', async () => {
    const admin = await newUser('admin');
    const newPassword = `my own new password ${randomUUID()}`;
    const res = await http(stack, 'PATCH', `/api/v1/users/${admin.id}`, { headers: bearer(admin.token), body: { password: newPassword } });
    expect(res.status).toBe(200);
    await expectAllRefused(admin);
    expect((await login(stack, admin.email, newPassword)).token).toEqual(expect.any(String));
  });
});

describe('the credential epoch', () => {
  it('a rename ends nothing', async () => {
    const agent = await newUser('agent');
    expect((await patchUser(agent.id, { name: 'Renamed Agent' })).status).toBe(200);
    expect((await listTickets(peer, agent.token)).status).toBe(200);
    expect((await refresh(agent.refreshToken)).status).toBe(200);
  });

  it('is kept in PostgreSQL; a copy lost from Redis fails closed until a refresh republishes it', async () => {
    const agent = await newUser('agent');
    const before = (await stack.admin.query('SELECT credential_epoch FROM users WHERE id = $1', [agent.id])).rows[0].credential_epoch as number;
    expect(claimsOf(agent.token).cep).toBe(before);
    await patchUser(agent.id, { password: `yet another password ${randomUUID()}` });
    const after = (await stack.admin.query('SELECT credential_epoch FROM users WHERE id = $1', [agent.id])).rows[0].credential_epoch as number;
    expect(after).toBe(before + 1);

    const fresh = await newUser('agent');
    await stack.redis.del(`uep:${fresh.id}`); // ioredis adds the key prefix
    expect((await listTickets(stack, fresh.token)).status).toBe(401);
    const refreshed = await refresh(fresh.refreshToken);
    expect(refreshed.status).toBe(200);
    expect((await listTickets(stack, refreshed.body.access_token)).status).toBe(200);
  });
});

describe('refresh re-reads the user before spending the token', () => {
  it('when the database cannot answer, the refresh fails without spending the token; the same token works afterwards', async () => {
    const agent = await newUser('agent');
    const broken = await startStack();
    try {
      await broken.pool.end(); // this instance's PostgreSQL pool is gone; its Redis is fine
      const failed = await http(broken, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: agent.refreshToken } });
      expect(failed.status).toBeGreaterThanOrEqual(500);
    } finally {
      await broken.close();
    }
    const retried = await refresh(agent.refreshToken);
    expect(retried.status).toBe(200); // not taken for a replayed (stolen) token
    expect((await listTickets(stack, retried.body.access_token)).status).toBe(200);
  });
});

describe('Cache-Control: no-store', () => {
  it('on login and refresh answers', async () => {
    const res = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: acme.agent.password } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const refreshed = await refresh(res.body.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
  });

  it('on every authenticated read, by access token or API key', async () => {
    const key = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: acme.admin.headers,
      body: { name: 'reader', scopes: ['tickets:read', 'customers:read'] },
    });
    const reads: [Record<string, string>, string][] = [
      [acme.agent.headers, '/api/v1/tickets'],
      [acme.agent.headers, `/api/v1/customers/${acme.customerId}`],
      [acme.admin.headers, '/api/v1/users'],
      [acme.admin.headers, `/api/v1/users/${acme.agent.id}`],
      [acme.admin.headers, '/api/v1/api-keys'],
      [acme.admin.headers, `/api/v1/api-keys/${key.body.id}`],
      [acme.admin.headers, '/api/v1/tenant'],
      [acme.admin.headers, '/api/v1/audit'],
      [bearer(key.body.token), '/api/v1/tickets'],
      [bearer(key.body.token), '/api/v1/customers'],
    ];
    for (const [headers, path] of reads) {
      const res = await http(stack, 'GET', path, { headers });
      expect([path, res.status]).toEqual([path, 200]);
      expect([path, res.headers.get('cache-control')]).toEqual([path, 'no-store']);
    }
  });
});
