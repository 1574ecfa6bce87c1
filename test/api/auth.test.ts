/** Login, tokens, refresh rotation, logout, session end and signing-key rotation, over real HTTP. */
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { SigningKeyRing } from '../../api/auth/signing-keys';
import { AUDIENCE } from '../../api/auth/tokens';
import { createFieldCrypto } from '../../platform/field-crypto';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
});
afterAll(() => stack.close());

const me = (token: string) => http(stack, 'GET', '/api/v1/tickets?limit=1', { headers: { Authorization: `Bearer ${token}` } });
const ring = () => new SigningKeyRing(stack.admin, createFieldCrypto(stack.config), stack.config.SIGNING_KEY_ROTATION);

/** A token signed with the service's real current key, with claims of our choosing. */
async function forge(claims: Record<string, unknown>, opts: { exp?: number | string; kid?: string } = {}) {
  const key = await ring().current();
  const base = { tid: acme.id, role: 'agent', sid: 'no-such-session', ...claims };
  return new SignJWT(base)
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? key.kid, typ: 'at+jwt' })
    .setIssuer(stack.config.JWT_ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(acme.agent.id)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(key.privateKey);
}

describe('login', () => {
  it('issues a 15-minute ES256 access token with a kid published in the JWKS, and a refresh token', async () => {
    const res = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: acme.agent.password } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: expect.any(Number), refresh_token: expect.any(String) });
    expect(res.body.expires_in).toBeGreaterThan(14 * 60);
    expect(res.body.expires_in).toBeLessThanOrEqual(15 * 60);
    const header = JSON.parse(Buffer.from(res.body.access_token.split('.')[0], 'base64url').toString());
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const jwks = await http(stack, 'GET', '/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: any) => k.kid)).toContain(header.kid);
    expect(jwks.body.keys.every((k: any) => k.d === undefined)).toBe(true); // never a private part
    expect((await me(res.body.access_token)).status).toBe(200);
  });

  it('a wrong password, an unknown email and a deactivated user all get the same 401', async () => {
    const wrong = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: 'not the password' } });
    const unknown = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: 'nobody@nowhere.test', password: 'whatever whatever' } });
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(wrong.body.detail).toBe(unknown.body.detail);

    const user = await http(stack, 'POST', '/api/v1/users', {
      headers: acme.admin.headers,
      body: { email: `leaver-${Date.now()}@acme.test`, name: 'Leaver', role: 'agent', password: 'a long enough password' },
    });
    await http(stack, 'PATCH', `/api/v1/users/${user.body.id}`, { headers: acme.admin.headers, body: { active: false } });
    const inactive = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: user.body.email, password: 'a long enough password' } });
    expect(inactive.status).toBe(401);
    expect(inactive.body.detail).toBe(wrong.body.detail);
  });

  it('stores passwords as argon2id hashes', async () => {
    const { rows } = await stack.admin.query('SELECT password_hash FROM users WHERE id = $1', [acme.agent.id]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
  });
});

describe('JWT attacks are 401s', () => {
  it('alg: none', async () => {
    const token = new UnsecuredJWT({ tid: acme.id, role: 'admin', sid: 'x' })
      .setIssuer(stack.config.JWT_ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(acme.admin.id)
      .setExpirationTime('5m')
      .encode();
    expect((await me(token)).status).toBe(401);
  });

  it('signed by another key under our kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const kid = (await ring().current()).kid;
    const token = await new SignJWT({ tid: acme.id, role: 'admin', sid: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(stack.config.JWT_ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(acme.admin.id)
      .setJti('j')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await me(token)).status).toBe(401);
  });

  it('an unknown kid', async () => {
    expect((await me(await forge({}, { kid: 'no-such-kid' }))).status).toBe(401);
  });

  it('expired', async () => {
    const token = await forge({}, { exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
  });

  it('tampered claims (another tenant, a higher role) break the signature', async () => {
    const [h, p, s] = acme.agent.token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    for (const change of [{ tid: crypto.randomUUID() }, { role: 'admin' }]) {
      const forged = [h, Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url'), s].join('.');
      expect((await me(forged)).status).toBe(401);
    }
  });

  it('a validly signed token whose session does not exist', async () => {
    expect((await me(await forge({ sid: crypto.randomUUID() }))).status).toBe(401);
  });

  it('a revoked jti (after logout)', async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    expect((await me(session.token)).status).toBe(200);
    const out = await http(stack, 'POST', '/api/v1/auth/logout', { headers: { Authorization: `Bearer ${session.token}` } });
    expect(out.status).toBe(204);
    expect((await me(session.token)).status).toBe(401);
    const refresh = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } });
    expect(refresh.status).toBe(401);
  });
});

describe('refresh tokens', () => {
  it('rotate on every use; the new pair works', async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    const next = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } });
    expect(next.status).toBe(200);
    expect(next.body.refresh_token).not.toBe(session.refreshToken);
    expect((await me(next.body.access_token)).status).toBe(200);
    const again = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: next.body.refresh_token } });
    expect(again.status).toBe(200);
  });

  it('reusing a spent refresh token revokes the whole family', async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    const rotated = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } });
    expect(rotated.status).toBe(200);
    const replay = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } });
    expect(replay.status).toBe(401);
    expect(replay.body.reason).toBe('refresh_token_reused');
    // The thief's replay also ends the legitimate holder's session: newest refresh token and access tokens die.
    expect((await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: rotated.body.refresh_token } })).status).toBe(401);
    expect((await me(rotated.body.access_token)).status).toBe(401);
    expect((await me(session.token)).status).toBe(401);
  });

  it('refresh tokens are stored hashed in Redis', async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    const keys = await stack.redis.keys(`${stack.config.REDIS_KEY_PREFIX}rt:*`); // KEYS patterns are not prefixed by ioredis
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes(session.refreshToken))).toBe(false);
  });

  it('garbage is a 401', async () => {
    expect((await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: 'nope' } })).status).toBe(401);
  });
});

describe('the web session ends after SESSION_TTL however often it is refreshed', () => {
  it('access and refresh both stop when the session ends', async () => {
    const short = await startStack({ SESSION_TTL: '2s' });
    try {
      const res = await http(short, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: acme.agent.password } });
      expect(res.body.expires_in).toBeLessThanOrEqual(2); // never outlives the session
      const refreshed = await http(short, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: res.body.refresh_token } });
      expect(refreshed.status).toBe(200);
      await new Promise((r) => setTimeout(r, 2500));
      expect((await http(short, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${refreshed.body.access_token}` } })).status).toBe(401);
      expect((await http(short, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshed.body.refresh_token } })).status).toBe(401);
    } finally {
      await short.close();
    }
  });
});

describe('signing key rotation', () => {
  it('a new key signs, the previous key still verifies, the JWKS lists both', async () => {
    const oldToken = (await login(stack, acme.agent.email, acme.agent.password)).token;
    const oldKid = JSON.parse(Buffer.from(oldToken.split('.')[0]!, 'base64url').toString()).kid;
    const rotating = new SigningKeyRing(stack.admin, createFieldCrypto(stack.config), 1); // every key is "due"
    await rotating.rotate();
    const newKey = await new SigningKeyRing(stack.admin, createFieldCrypto(stack.config), stack.config.SIGNING_KEY_ROTATION).current();
    expect(newKey.kid).not.toBe(oldKid);

    expect((await me(oldToken)).status).toBe(200);
    const newToken = await forge({ sid: JSON.parse(Buffer.from(oldToken.split('.')[1]!, 'base64url').toString()).sid }, { kid: newKey.kid });
    expect((await me(newToken)).status).toBe(200); // unknown kid → the API reloads its ring and finds it

    const fresh = await startStack(); // a process that loads keys now
    try {
      const jwks = await http(fresh, 'GET', '/.well-known/jwks.json');
      expect(jwks.body.keys.map((k: any) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKey.kid]));
    } finally {
      await fresh.close();
    }
  });

  it('private halves are stored encrypted', async () => {
    const { rows } = await stack.admin.query('SELECT private_jwk_enc FROM signing_keys');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.private_jwk_enc).toMatch(/^v1\./);
  });
});
