/**
 * Inbound email: signed with the tenant's inbound secret over the exact raw body; a new email opens an
 * email ticket (creating the customer), a reply threads onto its ticket, a redelivery duplicates nothing,
 * a reply from anyone but the requester opens a ticket of its own, anything unsigned is a 401 that persists
 * nothing and spends only its source's budget, and each tenant gets INBOUND_RATE_LIMIT_PER_MIN.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { customerStore } from '../../stores/customers';
import { signPayload } from '../../platform/signing';
import { createPool } from '../../platform/db';
import { createFieldCrypto } from '../../platform/field-crypto';
import { createTenant, http, operatorOf, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let secret: string;

beforeAll(async () => {
  // The functional tests send more than the default 10 emails (and bad signatures) a minute; the limits have their own tests.
  stack = await startStack({ INBOUND_RATE_LIMIT_PER_MIN: '1000', INBOUND_BAD_SIGNATURES_PER_MIN: '1000' });
  acme = await createTenant(stack, 'Acme');
  secret = await rotateSecret(stack, acme);
});
afterAll(() => stack.close());

async function rotateSecret(target: TestStack, tenant: Tenant): Promise<string> {
  const res = await http(target, 'POST', '/api/v1/tenant/inbound-secret', { headers: tenant.admin.headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.body.inbound_secret).toMatch(/^whsec_/);
  return res.body.inbound_secret;
}

interface Email {
  message_id: string;
  from: { email: string; name?: string };
  subject?: string;
  text: string;
  in_reply_to?: string;
  references?: string[];
}

const messageId = () => `<${randomUUID()}@mail.example>`;
const email = (extra: Partial<Email> = {}): Email => ({
  message_id: messageId(),
  from: { email: `sender-${randomUUID()}@example.com`, name: 'Grace Hopper' },
  subject: 'My order never arrived',
  text: 'Order 1234 was due last week.',
  ...extra,
});

/** POSTs `body` (object → JSON.stringify, string → as is), signed over exactly those bytes unless told otherwise. */
function deliver(tenantId: string, body: Email | string, opts: { secret?: string; t?: number; signature?: string | null; target?: { url: string } } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const signature = opts.signature === undefined ? signPayload(opts.secret ?? secret, raw, opts.t) : opts.signature;
  return http(opts.target ?? stack, 'POST', `/api/v1/inbound/${tenantId}/email`, {
    headers: signature === null ? {} : { 'X-Deskflow-Signature': signature },
    body: raw,
  });
}

async function counts(tenantId: string) {
  const { rows } = await stack.admin.query(
    `SELECT (SELECT count(*) FROM tickets WHERE tenant_id = $1)::int AS tickets,
            (SELECT count(*) FROM messages WHERE tenant_id = $1)::int AS messages,
            (SELECT count(*) FROM ticket_events WHERE tenant_id = $1)::int AS events,
            (SELECT count(*) FROM customers WHERE tenant_id = $1)::int AS customers,
            (SELECT count(*) FROM audit_log WHERE tenant_id = $1)::int AS audit`,
    [tenantId],
  );
  return rows[0];
}

const getTicket = (id: string) => http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: acme.headers });
const messagesOf = async (id: string) => (await http(stack, 'GET', `/api/v1/tickets/${id}/messages`, { headers: acme.headers })).body.data as any[];
const customersByEmail = async (address: string) =>
  (await http(stack, 'GET', `/api/v1/customers?email=${encodeURIComponent(address)}`, { headers: acme.headers })).body.data as any[];

describe('a new email', () => {
  it('opens an email ticket for a new customer; the next email from that sender finds the customer by email', async () => {
    const first = email({ from: { email: `Grace.${randomUUID()}@Example.COM`, name: 'Grace Hopper' } });
    const before = await counts(acme.id);
    const res = await deliver(acme.id, first);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ ticket_id: expect.any(String), message_id: expect.any(String), threaded: false, duplicate: false });

    const ticket = await getTicket(res.body.ticket_id);
    expect(ticket.status).toBe(200);
    expect(ticket.body).toMatchObject({ channel: 'email', status: 'new', subject: first.subject, description: first.text, tenant_id: acme.id });
    expect(await messagesOf(res.body.ticket_id)).toEqual([
      expect.objectContaining({ id: res.body.message_id, body: first.text, author_type: 'customer', visibility: 'public' }),
    ]);

    const [customer, ...more] = await customersByEmail(first.from.email.toLowerCase());
    expect(more).toEqual([]);
    expect(customer).toMatchObject({ id: ticket.body.customer_id, name: 'Grace Hopper', email: first.from.email.toLowerCase() });

    // The same sender again (spelled differently): the customer is found by email, not created twice.
    const second = email({ from: { email: first.from.email.toUpperCase() }, subject: 'Another question' });
    const again = await deliver(acme.id, second);
    expect(again.status).toBe(201);
    expect(again.body.ticket_id).not.toBe(res.body.ticket_id);
    expect((await getTicket(again.body.ticket_id)).body).toMatchObject({ customer_id: customer.id, channel: 'email', subject: 'Another question' });
    expect((await customersByEmail(first.from.email)).map((c) => c.id)).toEqual([customer.id]);
    expect(await counts(acme.id)).toMatchObject({ tickets: before.tickets + 2, messages: before.messages + 2, customers: before.customers + 1 });
  });

  it('without a subject or a sender name still opens a ticket', async () => {
    const bare = email({ from: { email: `bare-${randomUUID()}@example.com` } });
    delete bare.subject;
    const res = await deliver(acme.id, bare);
    expect(res.status).toBe(201);
    const ticket = (await getTicket(res.body.ticket_id)).body;
    expect(ticket.subject).toBe('(no subject)');
    expect((await customersByEmail(bare.from.email))[0]).toMatchObject({ id: ticket.customer_id, name: bare.from.email.split('@')[0] });
  });

  it('is verified over the exact bytes received, whatever their formatting', async () => {
    const pretty = JSON.stringify(email(), null, 2);
    expect((await deliver(acme.id, pretty)).status).toBe(201);

    // Signed over the compact form but sent pretty-printed: not the bytes that were signed.
    const other = email();
    const res = await deliver(acme.id, JSON.stringify(other, null, 2), { signature: signPayload(secret, JSON.stringify(other)) });
    expect(res.status).toBe(401);
  });
});

describe('a reply', () => {
  it('threads onto its ticket as a customer message and reopens a pending ticket', async () => {
    const opening = email();
    const opened = await deliver(acme.id, opening);
    expect(opened.status).toBe(201);
    const ticketId = opened.body.ticket_id;
    const pending = await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status: 'pending' } });
    expect(pending.body.status).toBe('pending');
    const before = await counts(acme.id);

    const reply = email({ from: opening.from, subject: `Re: ${opening.subject}`, text: 'Still nothing, please help.', in_reply_to: opening.message_id });
    const res = await deliver(acme.id, reply);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ticket_id: ticketId, message_id: expect.any(String), threaded: true, duplicate: false });

    const ticket = (await getTicket(ticketId)).body;
    expect(ticket.status).toBe('open'); // a customer's reply to a pending ticket reopens it
    expect(ticket.version).toBe(pending.body.version + 1);
    expect(await messagesOf(ticketId)).toEqual([
      expect.objectContaining({ body: opening.text, author_type: 'customer' }),
      expect.objectContaining({ id: res.body.message_id, body: reply.text, author_type: 'customer', visibility: 'public', author_id: ticket.customer_id }),
    ]);
    expect(await counts(acme.id)).toMatchObject({ tickets: before.tickets, messages: before.messages + 1, customers: before.customers });

    // Threading also follows References, and replies to replies.
    const viaReferences = await deliver(acme.id, email({ from: opening.from, text: 'Any news?', references: ['<unrelated@elsewhere>', opening.message_id] }));
    expect(viaReferences.body).toMatchObject({ ticket_id: ticketId, threaded: true });
    const toTheReply = await deliver(acme.id, email({ from: opening.from, text: 'Hello?', in_reply_to: reply.message_id }));
    expect(toTheReply.body).toMatchObject({ ticket_id: ticketId, threaded: true });
    expect((await messagesOf(ticketId)).map((m) => m.body)).toEqual([opening.text, reply.text, 'Any news?', 'Hello?']);
  });

  it('to a closed ticket opens a follow-up ticket for the same customer', async () => {
    const opening = email();
    const ticketId = (await deliver(acme.id, opening)).body.ticket_id;
    for (const status of ['solved', 'closed']) {
      expect((await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status } })).status).toBe(200);
    }
    const reply = email({ from: opening.from, text: 'It broke again', in_reply_to: opening.message_id });
    const res = await deliver(acme.id, reply);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ threaded: false, duplicate: false });
    expect(res.body.ticket_id).not.toBe(ticketId);
    const [closed, followUp] = [(await getTicket(ticketId)).body, (await getTicket(res.body.ticket_id)).body];
    expect(closed.status).toBe('closed');
    expect(followUp).toMatchObject({ status: 'new', channel: 'email', customer_id: closed.customer_id, description: 'It broke again' });
    expect(await messagesOf(ticketId)).toHaveLength(1);
    // Its redelivery is recognised as such.
    expect((await deliver(acme.id, reply)).body).toMatchObject({ ticket_id: res.body.ticket_id, duplicate: true });
  });

  it("threads whatever the case or spacing of the requester's address", async () => {
    const opening = email({ from: { email: `Case.${randomUUID()}@Example.com` } });
    const ticketId = (await deliver(acme.id, opening)).body.ticket_id;
    const res = await deliver(acme.id, email({ from: { email: opening.from.email.toUpperCase() }, text: 'same person', in_reply_to: opening.message_id }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ticket_id: ticketId, threaded: true });
  });

  it('from anyone but the requester never joins the ticket: it opens a ticket for its real sender', async () => {
    const opening = email();
    const opened = await deliver(acme.id, opening);
    const ticketId = opened.body.ticket_id;
    const original = (await getTicket(ticketId)).body;

    // A stranger who learned the Message-ID (it is quoted in every reply), by In-Reply-To and by References.
    const stranger = `stranger-${randomUUID()}@evil.example`;
    const forged = email({ from: { email: stranger, name: 'Not The Customer' }, text: 'Please send the refund to IBAN XX00', in_reply_to: opening.message_id });
    const res = await deliver(acme.id, forged);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ threaded: false, duplicate: false });
    expect(res.body.ticket_id).not.toBe(ticketId);
    const [strangerCustomer] = await customersByEmail(stranger);
    expect(strangerCustomer).toMatchObject({ email: stranger, name: 'Not The Customer' });
    expect((await getTicket(res.body.ticket_id)).body).toMatchObject({ customer_id: strangerCustomer.id, description: forged.text, channel: 'email' });
    const viaReferences = await deliver(acme.id, email({ from: { email: stranger }, text: 'again', references: [opening.message_id] }));
    expect(viaReferences.body).toMatchObject({ threaded: false });
    expect(viaReferences.body.ticket_id).not.toBe(ticketId);

    // Another customer of the same tenant is not the requester either.
    const other = (await http(stack, 'GET', `/api/v1/customers/${acme.customerId}`, { headers: acme.headers })).body;
    const fromOther = await deliver(acme.id, email({ from: { email: other.email }, text: 'me too', in_reply_to: opening.message_id }));
    expect(fromOther.status).toBe(201);
    expect((await getTicket(fromOther.body.ticket_id)).body.customer_id).toBe(acme.customerId);

    // The requester's ticket is untouched: one message, same version.
    expect(await messagesOf(ticketId)).toEqual([expect.objectContaining({ body: opening.text, author_id: original.customer_id })]);
    expect((await getTicket(ticketId)).body.version).toBe(original.version);
    // The forged email's redelivery is a duplicate of the stranger's own ticket.
    expect((await deliver(acme.id, forged)).body).toMatchObject({ ticket_id: res.body.ticket_id, duplicate: true });
  });

  it('to an unknown message opens a new ticket', async () => {
    const res = await deliver(acme.id, email({ in_reply_to: messageId() }));
    expect(res.status).toBe(201);
    expect(res.body.threaded).toBe(false);
  });
});

describe('redelivery', () => {
  it('the same email twice opens one ticket with one message', async () => {
    const mail = email();
    const raw = JSON.stringify(mail);
    const first = await deliver(acme.id, raw);
    expect(first.status).toBe(201);
    const before = await counts(acme.id);
    // A provider's retry: the same bytes, signed again later.
    const retry = await deliver(acme.id, raw, { t: Math.floor(Date.now() / 1000) + 1 });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ ticket_id: first.body.ticket_id, message_id: first.body.message_id, threaded: true, duplicate: true });
    expect(await counts(acme.id)).toEqual(before);
    expect(await messagesOf(first.body.ticket_id)).toHaveLength(1);
  });

  it('the same reply twice adds one message', async () => {
    const opening = email();
    const ticketId = (await deliver(acme.id, opening)).body.ticket_id;
    const reply = JSON.stringify(email({ from: opening.from, text: 'Once only', in_reply_to: opening.message_id }));
    const first = await deliver(acme.id, reply);
    expect(first.body).toMatchObject({ ticket_id: ticketId, threaded: true, duplicate: false });
    const before = await counts(acme.id);
    const second = await deliver(acme.id, reply);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ ticket_id: ticketId, message_id: first.body.message_id, threaded: true, duplicate: true });
    expect(await counts(acme.id)).toEqual(before);
    expect((await messagesOf(ticketId)).map((m) => m.body)).toEqual([opening.text, 'Once only']);
  });

  it('two simultaneous deliveries of a new email from a new sender open one ticket for one customer', async () => {
    const before = await counts(acme.id);
    const raw = JSON.stringify(email());
    const [a, b] = await Promise.all([deliver(acme.id, raw), deliver(acme.id, raw)]);
    expect([a.status, b.status].every((s) => s === 200 || s === 201)).toBe(true);
    expect(b.body.ticket_id).toBe(a.body.ticket_id);
    expect(await counts(acme.id)).toMatchObject({ tickets: before.tickets + 1, messages: before.messages + 1, customers: before.customers + 1 });
  });
});

describe('a new sender writing several emails at once', () => {
  it('gets one customer, and every email its own ticket', async () => {
    for (let round = 0; round < 3; round++) {
      const sender = `eager-${randomUUID()}@example.com`;
      const mails = Array.from({ length: 8 }, (_, i) => email({ from: { email: sender }, text: `email ${i}` }));
      const results = await Promise.all(mails.map((m) => deliver(acme.id, m)));
      expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
      const customers = await customersByEmail(sender);
      expect(customers).toHaveLength(1);
      const ticketCustomers = await Promise.all(results.map(async (r) => (await getTicket(r.body.ticket_id)).body.customer_id));
      expect(new Set(ticketCustomers)).toEqual(new Set([customers[0].id]));
    }
  });

  it('customer creation is idempotent by id under concurrency (the inbound path relies on it)', async () => {
    // The race needs real parallelism: a pool wider than the suite's, 10 creates of one id at once, 50 times.
    const pool = createPool({ ...stack.config, DATABASE_POOL_MAX: 10 });
    try {
      const store = customerStore(pool, createFieldCrypto(stack.config));
      const outcomes: string[] = [];
      for (let round = 0; round < 50; round++) {
        const id = randomUUID();
        const input = { name: 'Racer', email: `racer-${randomUUID()}@example.com`, phone: null, external_id: null };
        const settled = await Promise.allSettled(Array.from({ length: 10 }, () => store.create(operatorOf(acme.id), id, input)));
        outcomes.push(...settled.map((r) => (r.status === 'fulfilled' ? (r.value.id === id ? 'same' : 'other') : String(r.reason))));
      }
      expect(outcomes.filter((o) => o !== 'same')).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});

describe('unsigned or wrongly signed deliveries are 401s that persist nothing', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<{ status: number; body: any; headers: Headers }>][] = [
    ['a signature made with another secret', () => deliver(acme.id, email(), { secret: 'whsec_not-the-secret' })],
    [
      'a tampered body',
      () => {
        const mail = email();
        return deliver(acme.id, JSON.stringify({ ...mail, text: 'Send the refund to my other account' }), {
          signature: signPayload(secret, JSON.stringify(mail)),
        });
      },
    ],
    ['no signature', () => deliver(acme.id, email(), { signature: null })],
    ['a malformed signature header', () => deliver(acme.id, email(), { signature: 'sha256=deadbeef' })],
    ['a stale timestamp (over 5 minutes old)', () => deliver(acme.id, email(), { t: now() - 6 * 60 })],
    ['a timestamp from the future', () => deliver(acme.id, email(), { t: now() + 6 * 60 })],
    ['an unknown tenant', () => deliver(randomUUID(), email())],
  ];

  it.each(cases)('%s', async (_name, send) => {
    const before = await counts(acme.id);
    const res = await send();
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('unauthenticated');
    expect(await counts(acme.id)).toEqual(before);
  });

  it('an unknown tenant persists nothing anywhere', async () => {
    const tenant = randomUUID();
    const res = await deliver(tenant, email());
    expect(res.status).toBe(401);
    const { rows } = await stack.admin.query(
      'SELECT (SELECT count(*) FROM tickets WHERE tenant_id = $1)::int + (SELECT count(*) FROM customers WHERE tenant_id = $1)::int AS n',
      [tenant],
    );
    expect(rows[0].n).toBe(0);
  });

  it('a tenant that never set a secret, and a secret that was rotated away', async () => {
    const globex = await createTenant(stack, 'Globex');
    const before = await counts(globex.id);
    expect((await deliver(globex.id, email(), { secret: '' })).status).toBe(401);
    const old = await rotateSecret(stack, globex);
    expect((await deliver(globex.id, email(), { secret: old })).status).toBe(201);
    const current = await rotateSecret(stack, globex);
    expect(current).not.toBe(old);
    expect((await deliver(globex.id, email(), { secret: old })).status).toBe(401);
    expect((await deliver(globex.id, email(), { secret: current })).status).toBe(201);
    expect((await counts(globex.id)).tickets).toBe(before.tickets + 2);
  });

  it('a signed body that is not a valid email is a 400 that persists nothing', async () => {
    const before = await counts(acme.id);
    const res = await deliver(acme.id, JSON.stringify({ message_id: messageId(), from: { email: 'not-an-email' }, text: '', admin: true }));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
    expect(await counts(acme.id)).toEqual(before);
  });
});

describe('limits (the defaults)', () => {
  let limited: TestStack;
  beforeAll(async () => {
    limited = await startStack();
  });
  afterAll(() => limited.close());

  it('the 11th email in a minute for one tenant is a 429; other tenants are unaffected', async () => {
    expect(limited.config.INBOUND_RATE_LIMIT_PER_MIN).toBe(10);
    const [busy, quiet] = [await createTenant(limited, 'Busy'), await createTenant(limited, 'Quiet')];
    const [busySecret, quietSecret] = [await rotateSecret(limited, busy), await rotateSecret(limited, quiet)];
    for (let i = 0; i < 10; i++) {
      const res = await deliver(busy.id, email(), { secret: busySecret, target: limited });
      expect(res.status).toBe(201);
      expect(res.headers.get('ratelimit-policy')).toBe('"inbound";q=10;w=60');
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`^"inbound";r=${9 - i};t=\\d+$`));
    }
    const refused = await deliver(busy.id, email(), { secret: busySecret, target: limited });
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await counts(busy.id)).tickets).toBe(10);

    expect((await deliver(quiet.id, email(), { secret: quietSecret, target: limited })).status).toBe(201);
  });

  it("unsigned requests spend their source's budget, never the tenant's: a correctly signed email still gets through", async () => {
    expect(limited.config.INBOUND_BAD_SIGNATURES_PER_MIN).toBe(10);
    const tenant = await createTenant(limited, 'Targeted');
    const tenantSecret = await rotateSecret(limited, tenant);
    const [attacker, bystander] = [sourceAddress(), sourceAddress()];
    const post = (from: string, body: Email, signature: string | null) => {
      const raw = JSON.stringify(body);
      return postFrom(from, limited, `/api/v1/inbound/${tenant.id}/email`, raw, signature === null ? {} : { 'X-Deskflow-Signature': signature });
    };

    // More forged requests than the tenant's whole budget: 401s until the source's own budget is gone, then 429s.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await post(attacker, email(), i % 2 ? null : signPayload('whsec_guess', JSON.stringify(email())));
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body.code).toBe('rate_limited');
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);

    // The tenant's budget is untouched: its first correctly signed email (even from that same address) is accepted.
    const mail = email();
    const signed = await post(attacker, mail, signPayload(tenantSecret, JSON.stringify(mail)));
    expect(signed.status).toBe(201);
    expect(signed.headers.ratelimit).toMatch(/^"inbound";r=9;t=\d+$/);
    // Another source's bad signature is its own first one: a 401, not a 429.
    expect((await post(bystander, email(), null)).status).toBe(401);
    expect((await counts(tenant.id)).tickets).toBe(1);
  });
});

/** A loopback source address of its own (127.0.0.0/8 all reaches the server), so per-source budgets start empty. */
const sourceAddress = () => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

function postFrom(localAddress: string, target: { url: string }, path: string, body: string, headers: Record<string, string>) {
  const url = new URL(path, target.url);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
