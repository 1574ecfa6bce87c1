/**
 * Inbound email attachments (issue #14): base64 files inside the signed JSON body land like uploads. A new email's files
 * are on its opening message, a threaded reply's on its message; each is sniffed, checked against the allowlist and
 * the size limit, served back byte for byte; a redelivery stores nothing more; a refused file, an over-long list or a
 * malformed body keeps nothing (no ticket, no row, no object); an unsigned body is refused without being read.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signPayload } from '../../platform/signing';
import { png } from '../support/multipart';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

const MAX_BYTES = 200 * 1024;
let stack: TestStack;
let acme: Tenant;
let secret: string;
let objectsDir: string;

beforeAll(async () => {
  objectsDir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-inbound-files-'));
  stack = await startStack({
    OBJECT_STORAGE: 'local',
    OBJECT_STORAGE_DIR: objectsDir,
    ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
    ATTACHMENT_MAX_FILES: '3',
    INBOUND_RATE_LIMIT_PER_MIN: '1000',
    INBOUND_BAD_SIGNATURES_PER_MIN: '1000',
  });
  acme = await createTenant(stack, 'Acme');
  const res = await http(stack, 'POST', '/api/v1/tenant/inbound-secret', { headers: acme.admin.headers });
  expect(res.status).toBe(200);
  secret = res.body.inbound_secret;
});
afterAll(async () => {
  await stack.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

interface File {
  filename: string;
  content_type: string;
  content: string;
}
const file = (filename: string, bytes: Buffer, contentType: string): File => ({ filename, content_type: contentType, content: bytes.toString('base64') });
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const email = (extra: Record<string, unknown> = {}) => ({
  message_id: `<${randomUUID()}@mail.example>`,
  from: { email: `sender-${randomUUID()}@example.com`, name: 'Ada' },
  subject: 'Invoice attached',
  text: 'Please see the attached files.',
  ...extra,
});

function deliver(body: object | string, signed = true) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return http(stack, 'POST', `/api/v1/inbound/${acme.id}/email`, {
    headers: signed ? { 'X-Deskflow-Signature': signPayload(secret, raw) } : {},
    body: raw,
  });
}

/** Every object file under the tenant's attachment folder (temp files and sidecars too). */
function objectsOf(tenantId: string): string[] {
  try {
    return readdirSync(path.join(objectsDir, 'attachments', tenantId), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
  } catch {
    return [];
  }
}
const counts = async () => ({
  objects: objectsOf(acme.id).length,
  rows: (await stack.admin.query('SELECT count(*)::int AS n FROM attachments WHERE tenant_id = $1', [acme.id])).rows[0].n as number,
  tickets: (await stack.admin.query('SELECT count(*)::int AS n FROM tickets WHERE tenant_id = $1', [acme.id])).rows[0].n as number,
  customers: (await stack.admin.query('SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [acme.id])).rows[0].n as number,
});

async function messagesOf(ticketId: string) {
  const res = await http(stack, 'GET', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers });
  expect(res.status).toBe(200);
  return res.body.data as { id: string; body: string; attachments: { id: string; filename: string; content_type: string; size: number; sha256: string }[] }[];
}

async function download(id: string) {
  const res = await fetch(`${stack.url}/api/v1/attachments/${id}`, { headers: acme.headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('inbound email attachments', () => {
  it("stores a new email's files on its opening message, sniffed, checksummed and served back byte for byte", async () => {
    // Larger than BODY_LIMIT (100 kB) once base64: the inbound route has its own limit.
    const image = png(150_000);
    const csv = Buffer.from('order,amount\n1234,12.50\n');
    const opening = email({ attachments: [file('../../evil\u202e.png', image, 'application/octet-stream'), file('orders.csv', csv, 'text/csv')] });
    const res = await deliver(opening);
    expect(res.status).toBe(201);
    const [first] = await messagesOf(res.body.ticket_id);
    expect(first!.id).toBe(res.body.message_id);
    expect(first!.attachments).toEqual([
      // Typed from the bytes, not the sender's claim; the name has no path and no bidi override.
      { id: expect.any(String), filename: 'evil.png', content_type: 'image/png', size: image.length, sha256: sha256(image) },
      { id: expect.any(String), filename: 'orders.csv', content_type: 'text/csv', size: csv.length, sha256: sha256(csv) },
    ]);
    const got = await download(first!.attachments[0]!.id);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(sha256(got.bytes)).toBe(sha256(image));
    const rows = await stack.admin.query(
      'SELECT status, message_id, created_by_type, created_by_id, storage_key FROM attachments WHERE ticket_id = $1 ORDER BY position',
      [res.body.ticket_id],
    );
    expect(rows.rows.map((r) => [r.status, r.message_id, r.created_by_type, r.created_by_id])).toEqual([
      ['linked', first!.id, 'system', 'inbound-email'],
      ['linked', first!.id, 'system', 'inbound-email'],
    ]);
    expect(rows.rows[0].storage_key).toBe(`attachments/${acme.id}/${res.body.ticket_id}/${first!.attachments[0]!.id}`);

    // The provider retries: nothing new is stored, nothing is lost.
    const before = await counts();
    const again = await deliver(opening);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ ticket_id: res.body.ticket_id, duplicate: true });
    expect(await counts()).toEqual(before);
    expect((await download(first!.attachments[1]!.id)).bytes.equals(csv)).toBe(true);
  });

  it("puts a threaded reply's files on the reply", async () => {
    const opening = email();
    const opened = await deliver(opening);
    expect(opened.status).toBe(201);
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(3000, 0x20)]);
    const reply = email({
      from: opening.from,
      in_reply_to: opening.message_id,
      text: 'Here is the receipt.',
      attachments: [file('receipt.pdf', pdf, 'application/pdf')],
    });
    const res = await deliver(reply);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ticket_id: opened.body.ticket_id, threaded: true, duplicate: false });
    const messages = await messagesOf(opened.body.ticket_id);
    const added = messages.find((m) => m.id === res.body.message_id)!;
    expect(added.attachments).toEqual([
      { id: expect.any(String), filename: 'receipt.pdf', content_type: 'application/pdf', size: pdf.length, sha256: sha256(pdf) },
    ]);
    expect(messages.find((m) => m.id === opened.body.message_id)!.attachments).toEqual([]);
    expect(sha256((await download(added.attachments[0]!.id)).bytes)).toBe(sha256(pdf));
  });

  it('refuses a disallowed, oversized or malformed file, or too many, and keeps nothing', async () => {
    const before = await counts();
    const html = await deliver(
      email({ attachments: [file('a.png', png(100), 'image/png'), file('page.html', Buffer.from('<!DOCTYPE html><script>x</script>'), 'text/plain')] }),
    );
    expect(html.status).toBe(415);
    expect(html.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const exe = await deliver(email({ attachments: [file('setup.exe', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200)]), 'application/pdf')] }));
    expect(exe.status).toBe(415);
    const big = await deliver(email({ attachments: [file('ok.png', png(100), 'image/png'), file('big.png', png(MAX_BYTES), 'image/png')] }));
    expect(big.status).toBe(413);
    expect(big.body.detail).toMatch(/big\.png/);
    const many = await deliver(email({ attachments: [1, 2, 3, 4].map((n) => file(`${n}.png`, png(10), 'image/png')) }));
    expect(many.status).toBe(413);
    const notBase64 = await deliver(email({ attachments: [{ filename: 'x.png', content_type: 'image/png', content: 'not base64!' }] }));
    expect(notBase64.status).toBe(400);
    const nul = await deliver(email({ attachments: [file('notes.txt', Buffer.from('a\u0000b'), 'text/plain')] }));
    expect(nul.status).toBe(415);
    const extraKey = await deliver(email({ attachments: [{ ...file('x.png', png(10), 'image/png'), url: 'http://169.254.169.254/' }] }));
    expect(extraKey.status).toBe(400);
    expect(await counts()).toEqual(before);
  });

  it('refuses a body without a current signature before reading it, and spends no tenant budget', async () => {
    const before = await counts();
    const body = JSON.stringify(email({ attachments: [file('a.png', png(100), 'image/png')] }));
    const unsigned = await deliver(body, false);
    expect(unsigned.status).toBe(401);
    const stale = await http(stack, 'POST', `/api/v1/inbound/${acme.id}/email`, {
      headers: { 'X-Deskflow-Signature': signPayload(secret, body, Math.floor(Date.now() / 1000) - 3600) },
      body,
    });
    expect(stale.status).toBe(401);
    // A current time with a forged MAC is read (to check it) and refused.
    const forged = await http(stack, 'POST', `/api/v1/inbound/${acme.id}/email`, {
      headers: { 'X-Deskflow-Signature': signPayload('whsec_not-the-secret', body) },
      body,
    });
    expect(forged.status).toBe(401);
    expect(await counts()).toEqual(before);
  });

  it('keeps the ordinary JSON limit for every other route', async () => {
    const res = await http(stack, 'POST', '/api/v1/tickets', {
      headers: acme.headers,
      body: JSON.stringify({ subject: 'x', description: 'y'.repeat(200 * 1024), customer_id: acme.customerId }),
    });
    expect(res.status).toBe(413);
  });
});
