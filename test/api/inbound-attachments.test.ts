/**
 * Inbound email attachments (issue #14): base64 files inside the signed JSON body land like uploads. A new email's files
 * are on its opening message, a threaded reply's on its message; each is sniffed, checked against the allowlist and
 * the size limit, served back byte for byte; a redelivery stores nothing more; a refused file, an over-long list or a
 * malformed body keeps nothing (no ticket, no row, no object); an unsigned body is refused without being read. Files
 * of a write whose outcome is unknown (503) are held, not lost and not kept for ever: the retention sweep deletes them
 * once the hold has passed, unless a row points at them by then.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createObjectStorage } from '../../platform/object-storage';
import { signPayload } from '../../platform/signing';
import { attachmentStore } from '../../stores/attachments';
import { objectDeletionStore } from '../../stores/object-deletions';
import { png } from '../support/multipart';
import { createTenant, http, startApiWithTemporalDown, startStack, type Tenant, type TestStack } from '../support/stack';

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

function deliver(body: object | string, signed = true, to: { url: string } = stack) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return http(to, 'POST', `/api/v1/inbound/${acme.id}/email`, {
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
  held: await heldKeys(),
});
/** The tenant's attachment keys pending deletion (held uploads, migration 023). */
const heldKeys = async () =>
  (
    await stack.admin.query<{ storage_key: string; reason: string }>(
      "SELECT storage_key, reason FROM pending_object_deletions WHERE storage_key LIKE 'attachments/' || $1 || '/%' ORDER BY storage_key",
      [acme.id],
    )
  ).rows;

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

describe('files of a write whose outcome is unknown (503)', () => {
  let down: { url: string; close(): Promise<void> };
  const storage = () => createObjectStorage(stack.config);

  // The same app, storage and database with Temporal unreachable: the email's files are stored, then its write
  // answers 503 ("it may still apply").
  beforeAll(async () => {
    down = await startApiWithTemporalDown(stack);
  });
  afterAll(() => down?.close());

  /** Moves the tenant's holds (or the given keys') to a past no other suite's sweep reaches, then sweeps up to it. */
  async function sweepAfterTheHold(keys: string[]) {
    await stack.admin.query("UPDATE pending_object_deletions SET created_at = '1999-01-01', keep_until = '1999-01-01' WHERE storage_key = ANY ($1::text[])", [
      keys,
    ]);
    return objectDeletionStore(stack.pool, storage()).sweep(new Date('2000-01-01'), 100);
  }
  const exists = async (key: string) => (await storage().head(key)) !== null;

  it('holds them; after the hold the sweep deletes them; a later delivery stores them again and leaves no hold', async () => {
    const before = await counts();
    const image = png(1000);
    const mail = email({ attachments: [file('a.png', image, 'image/png'), file('b.csv', Buffer.from('a,b\n1,2\n'), 'text/csv')] });
    const lost = await deliver(mail, true, down);
    expect({ status: lost.status, code: lost.body.code }).toEqual({ status: 503, code: 'service_unavailable' });

    // Stored and held, no row yet (the write would create them), nothing else changed.
    const held = (await counts()).held;
    expect(held).toHaveLength(2);
    expect(held.every((h) => h.reason === 'unconfirmed upload' && h.storage_key.startsWith(`attachments/${acme.id}/`))).toBe(true);
    const keys = held.map((h) => h.storage_key);
    for (const key of keys) expect(await exists(key)).toBe(true);
    const { rows: hold } = await stack.admin.query(
      "SELECT keep_until > now() + interval '23 hours' AS long FROM pending_object_deletions WHERE storage_key = $1",
      [keys[0]],
    );
    expect(hold[0].long).toBe(true);
    expect((await counts()).rows).toBe(before.rows);
    expect((await counts()).tickets).toBe(before.tickets);

    // Not due while held, whatever the cut-off says.
    expect(await objectDeletionStore(stack.pool, storage()).sweep(new Date('2000-01-01'), 100)).toEqual({ due: 0, deleted: 0 });
    for (const key of keys) expect(await exists(key)).toBe(true);

    // The write never applied and the provider never retried: once the hold has passed, the sweep deletes them.
    await sweepAfterTheHold(keys);
    for (const key of keys) expect(await exists(key)).toBe(false);
    expect(await heldKeys()).toEqual([]);

    // The provider retries after all (Temporal is back): a normal delivery, every file there, no hold left.
    const res = await deliver(mail);
    expect(res.status).toBe(201);
    const [first] = await messagesOf(res.body.ticket_id);
    expect(first!.attachments.map((a) => a.filename)).toEqual(['a.png', 'b.csv']);
    expect(sha256((await download(first!.attachments[0]!.id)).bytes)).toBe(sha256(image));
    expect(await heldKeys()).toEqual([]);
    const { rows } = await stack.admin.query('SELECT storage_key FROM attachments WHERE ticket_id = $1 ORDER BY storage_key', [res.body.ticket_id]);
    expect(rows.map((r) => r.storage_key)).toEqual([...keys].sort());
  });

  it('never deletes a held object a row points to: the write applied late, so the hold is forgotten', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(500, 0x20)]);
    const mail = email({ attachments: [file('late.pdf', pdf, 'application/pdf')] });
    expect((await deliver(mail, true, down)).status).toBe(503);
    const held = await heldKeys();
    expect(held).toHaveLength(1);
    const key = held[0]!.storage_key;
    // The update applies (here: the provider's retry lands first); its release fails, say, so the hold stays.
    const res = await deliver(mail);
    expect(res.status).toBe(201);
    await attachmentStore(stack.pool).holdUnconfirmed(acme.id, [key], 60_000);
    expect((await heldKeys()).map((h) => h.storage_key)).toEqual([key]);

    await sweepAfterTheHold([key]);
    expect(await heldKeys()).toEqual([]);
    expect(await exists(key)).toBe(true);
    const [first] = await messagesOf(res.body.ticket_id);
    expect(sha256((await download(first!.attachments[0]!.id)).bytes)).toBe(sha256(pdf));
  });

  it("lets the API hold and release only its own tenant's attachment keys", async () => {
    const store = attachmentStore(stack.pool);
    const other = `attachments/${randomUUID()}/${randomUUID()}/${randomUUID()}`;
    await expect(store.holdUnconfirmed(acme.id, [other], 60_000)).rejects.toMatchObject({ code: '42501' });
    for (const key of [
      `attachments/${acme.id}/../${randomUUID()}/${randomUUID()}`,
      `archive/${acme.id}/2026/01/${randomUUID()}`,
      `attachments/${acme.id}/${randomUUID()}/${randomUUID()}/x`,
      `attachments/${acme.id}/${randomUUID()}/${randomUUID()}\u0000`,
    ]) {
      await expect(store.holdUnconfirmed(acme.id, [key], 60_000)).rejects.toBeDefined();
    }
    const own = `attachments/${acme.id}/${randomUUID()}/${randomUUID()}`;
    await expect(store.holdUnconfirmed(acme.id, [own], 0)).rejects.toMatchObject({ code: '22023' });
    await expect(store.holdUnconfirmed(acme.id, [own], 31 * 86_400_000)).rejects.toMatchObject({ code: '22023' });
    expect(await heldKeys()).toEqual([]);

    // Another tenant's hold (or an erasure's listing) is not the API's to release.
    await stack.admin.query(
      "INSERT INTO pending_object_deletions (storage_key, reason, keep_until) VALUES ($1, 'unconfirmed upload', now() + interval '1 hour')",
      [other],
    );
    const erased = `attachments/${acme.id}/${randomUUID()}/${randomUUID()}`;
    await stack.admin.query("INSERT INTO pending_object_deletions (storage_key, reason) VALUES ($1, 'customer erasure')", [erased]);
    await store.releaseUnconfirmed(acme.id, [other, erased]);
    // An erasure's listing stays due now: a hold does not postpone it.
    await store.holdUnconfirmed(acme.id, [erased], 60_000);
    const { rows } = await stack.admin.query(
      'SELECT storage_key, reason, keep_until FROM pending_object_deletions WHERE storage_key = ANY ($1::text[]) ORDER BY reason',
      [[other, erased]],
    );
    expect(rows.map((r) => [r.storage_key, r.reason, r.keep_until === null])).toEqual([
      [erased, 'customer erasure', true],
      [other, 'unconfirmed upload', false],
    ]);
    await stack.admin.query('DELETE FROM pending_object_deletions WHERE storage_key = ANY ($1::text[])', [[other, erased]]);
  });
});
