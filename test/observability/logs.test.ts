/**
 * Logs: every line of a request carries its request id, tenant and actor; tokens, passwords, secrets, emails and
 * phone numbers never reach a line, whether as a field (at any depth) or inside logged text.
 */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../platform/logger';
import { requestContext } from '../../platform/request-context';
import { captureLogLines as capture } from '../support/log-capture';
import { createTenant, http, startExtraApi, startStack, type Tenant, type TestStack } from '../support/stack';

const SECRETS = {
  jwt: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ',
  apiKey: `dfk_${'a'.repeat(12)}_${'b'.repeat(43)}`,
  refresh: `${randomUUID()}.${'c'.repeat(43)}`,
  whsec: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=',
  password: 'correct horse battery staple',
  email: 'ada.lovelace@example.com',
  phone: '+44 20 7946 0958',
};

test('secrets and personal data are censored by field name at any depth and by shape inside text', () => {
  const { raw, lines, destination } = capture();
  const log = createLogger({ LOG_LEVEL: 'info' }, 'redaction-test', destination);
  log.info(
    {
      password: SECRETS.password,
      token: SECRETS.jwt,
      req: { headers: { authorization: `Bearer ${SECRETS.jwt}`, 'x-api-key': SECRETS.apiKey } },
      customer: { profile: { email: SECRETS.email, phone: SECRETS.phone, name: 'Ada' } },
      endpoint: { secret: SECRETS.whsec, url: 'https://hooks.example.net/in' },
      note: `reset for ${SECRETS.email} with ${SECRETS.refresh}`,
      list: [{ email: SECRETS.email }, `key ${SECRETS.apiKey}`],
    },
    `login by ${SECRETS.email} presented Bearer ${SECRETS.jwt}`,
  );
  const err = Object.assign(new Error(`duplicate key value (email)=(${SECRETS.email})`), { detail: `Key (email)=(${SECRETS.email}) exists.` });
  log.error({ err }, 'insert failed');
  expect(lines).toHaveLength(2);
  for (const value of Object.values(SECRETS)) for (const line of raw) expect(line).not.toContain(value);
  // What is not secret stays, so the lines are still useful.
  expect(lines[0]!.customer.profile.name).toBe('Ada');
  expect(lines[0]!.endpoint.url).toBe('https://hooks.example.net/in');
  expect(lines[0]!.msg).toBe('login by [redacted] presented [redacted]');
  expect(lines[0]!.password).toBe('[redacted]');
  expect(lines[1]!.err.message).toBe('duplicate key value (email)=([redacted])');
  expect(lines[1]!.err.stack).toContain('duplicate key value');
  expect(lines[1]!.err.type).toBe('Error');
});

test("object storage credentials are censored: the S3 secret by field name, a pre-signed URL's signature inside text", () => {
  const { raw, lines, destination } = capture();
  const log = createLogger({ LOG_LEVEL: 'info' }, 'redaction-test', destination);
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const sessionToken = 'FwoGZXIvYXdzEXAMPLEsessionTOKEN';
  const signature = 'f'.repeat(64);
  const url = `https://objects.example.net/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=${sessionToken}&X-Amz-Signature=${signature}`;
  log.info(
    { config: { S3_SECRET_ACCESS_KEY: secret, S3_BUCKET: 'deskflow' }, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret, sessionToken } },
    `redirected to ${url}`,
  );
  for (const value of [secret, sessionToken, signature]) expect(raw[0]).not.toContain(value);
  expect(lines[0]!.config.S3_BUCKET).toBe('deskflow');
  expect(lines[0]!.msg).toContain('X-Amz-Algorithm=AWS4-HMAC-SHA256');
});

test('lines logged inside a request carry its id, and its tenant and actor once authenticated', async () => {
  const { lines, destination } = capture();
  const log = createLogger({ LOG_LEVEL: 'info' }, 'context-test', destination);
  expect(requestContext.current()).toBeUndefined();
  const stack: TestStack = await startStack();
  let api: Awaited<ReturnType<typeof startExtraApi>> | undefined;
  try {
    const tenant: Tenant = await createTenant(stack, 'Logs');
    api = await startExtraApi(stack, { log });
    const { url } = api;
    const requestId = `req-${randomUUID()}`;
    const res = await http({ url }, 'GET', '/api/v1/tickets?limit=1', { headers: { ...tenant.headers, 'X-Request-Id': requestId } });
    expect(res.status).toBe(200);
    const anonymous = await http({ url }, 'GET', '/api/v1/tickets', {});
    expect(anonymous.status).toBe(401);
    // The request line is written when the answer has gone: wait for both.
    for (let i = 0; i < 50 && lines.filter((l) => l.msg === 'request' && l.path === '/api/v1/tickets').length < 2; i++)
      await new Promise((r) => setTimeout(r, 20));
    // (The test client also reads /openapi.json to check answers against the contract: those lines are left out.)
    const [first, second] = lines.filter((l) => l.msg === 'request' && l.path === '/api/v1/tickets');
    expect(first).toMatchObject({ requestId, tenantId: tenant.id, actor: `agent:${tenant.agentId}`, status: 200, path: '/api/v1/tickets' });
    expect(second!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second!.status).toBe(401);
    expect(second!.tenantId).toBeUndefined();
    expect(second!.actor).toBeUndefined();
    for (const line of lines) expect(JSON.stringify(line)).not.toContain(tenant.agent.token);
  } finally {
    await api?.close();
    await stack.close();
  }
});

test('a line logged deep in a request names the request without being handed it', async () => {
  const { lines, destination } = capture();
  const log = createLogger({ LOG_LEVEL: 'info' }, 'deep-test', destination);
  await requestContext.run({ requestId: 'r-1' }, async () => {
    requestContext.identify('7d0c6c1e-1c1a-4a53-9f0e-2a3b4c5d6e7f', { type: 'api_key', id: 'k-1' });
    await new Promise((r) => setTimeout(r, 5));
    await Promise.resolve().then(() => log.warn('deep inside'));
  });
  log.info('outside');
  expect(lines[0]).toMatchObject({ msg: 'deep inside', requestId: 'r-1', tenantId: '7d0c6c1e-1c1a-4a53-9f0e-2a3b4c5d6e7f', actor: 'api_key:k-1' });
  expect(lines[1]!.requestId).toBeUndefined();
});
