import { randomUUID } from 'node:crypto';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(() => stack.close());

const customerCount = async (tenantId: string) =>
  (await stack.admin.query('SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [tenantId])).rows[0].n;

it('creates (201 + Location), reads (ETag/304), patches (If-Match/412) and lists customers', async () => {
  const created = await http(stack, 'POST', '/api/v1/customers', {
    headers: acme.headers,
    body: { name: 'Grace Hopper', email: 'Grace@Example.com', phone: '+1 555 0100', external_id: 'crm-1' },
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ name: 'Grace Hopper', email: 'grace@example.com', version: 1, tenant_id: acme.id });
  const path = created.headers.get('location')!;
  expect(path).toBe(`/api/v1/customers/${created.body.id}`);

  const read = await http(stack, 'GET', path, { headers: acme.headers });
  expect(read.body).toEqual(created.body);
  expect((await http(stack, 'GET', path, { headers: { ...acme.headers, 'If-None-Match': '"1"' } })).status).toBe(304);

  const patched = await http(stack, 'PATCH', path, { headers: { ...acme.headers, 'If-Match': '"1"' }, body: { name: 'Rear Admiral Hopper' } });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ name: 'Rear Admiral Hopper', version: 2 });
  const stale = await http(stack, 'PATCH', path, { headers: { ...acme.headers, 'If-Match': '"1"' }, body: { name: 'x' } });
  expect(stale.status).toBe(412);
  expect(stale.body.code).toBe('version_mismatch');

  const byEmail = await http(stack, 'GET', '/api/v1/customers?email=GRACE@example.com', { headers: acme.headers });
  expect(byEmail.body.data.map((c: any) => c.id)).toEqual([created.body.id]);
});

it('a duplicate email in the same tenant is a 409; another tenant may reuse it', async () => {
  const body = { name: 'Dup', email: `dup-${randomUUID()}@example.com` };
  expect((await http(stack, 'POST', '/api/v1/customers', { headers: acme.headers, body })).status).toBe(201);
  const before = await customerCount(acme.id);
  const dup = await http(stack, 'POST', '/api/v1/customers', { headers: acme.headers, body });
  expect(dup.status).toBe(409);
  expect(dup.body).toMatchObject({ code: 'conflict', field: 'email' });
  expect(await customerCount(acme.id)).toBe(before);
  expect((await http(stack, 'POST', '/api/v1/customers', { headers: globex.headers, body })).status).toBe(201);
});

it('Idempotency-Key replays the customer create', async () => {
  const key = randomUUID();
  const body = { name: 'Once Only' };
  const a = await http(stack, 'POST', '/api/v1/customers', { headers: { ...acme.headers, 'Idempotency-Key': key }, body });
  const b = await http(stack, 'POST', '/api/v1/customers', { headers: { ...acme.headers, 'Idempotency-Key': key }, body });
  expect(b.body).toEqual(a.body);
  const other = await http(stack, 'POST', '/api/v1/customers', { headers: { ...acme.headers, 'Idempotency-Key': key }, body: { name: 'Twice' } });
  expect(other.status).toBe(422);
});

it("another tenant's customer is a 404 and cannot be changed", async () => {
  const path = `/api/v1/customers/${acme.customerId}`;
  expect((await http(stack, 'GET', path, { headers: globex.headers })).status).toBe(404);
  expect((await http(stack, 'PATCH', path, { headers: globex.headers, body: { name: 'Pwned' } })).status).toBe(404);
  expect((await http(stack, 'GET', path, { headers: acme.headers })).body.name).toBe('Ada Customer');
});

it('bad input is a 400 problem and persists nothing', async () => {
  const before = await customerCount(acme.id);
  for (const body of [{}, { name: '' }, { name: 'x', email: 'not-an-email' }, { name: 'x', tenant_id: globex.id }, { name: 'x', id: randomUUID() }]) {
    const res = await http(stack, 'POST', '/api/v1/customers', { headers: acme.headers, body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
  }
  expect(await customerCount(acme.id)).toBe(before);
});
