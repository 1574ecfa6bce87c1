/**
 * Attachments over real HTTP against the run's PostgreSQL, Redis, Temporal and worker: multipart messages streamed
 * into object storage (a temp directory; S3 through s3rver at the end), downloads, and everything an attacker would try:
 * oversized and disguised files, hostile filenames, other tenants, internal notes, uploads cut off mid-way. Every
 * refusal is checked to leave nothing behind: no row, no object, no temp file, no message.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import { Readable } from 'node:stream';
import path from 'node:path';
import { createObjectStorage } from '../../platform/object-storage';
import { sweepUnlinkedAttachments } from '../../stores/attachments';
import { startS3Server, type S3TestServer } from '../support/s3-server';
import { multipart, type Part, png } from '../support/multipart';
import { openApiChecker } from '../support/openapi-check';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

const MAX_BYTES = 200_000;
let stack: TestStack;
let objectsDir: string;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  objectsDir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-attachments-'));
  stack = await startStack({ OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: objectsDir, ATTACHMENT_MAX_BYTES: String(MAX_BYTES), ATTACHMENT_MAX_FILES: '3' });
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(async () => {
  await stack.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function newTicket(t: Tenant): Promise<string> {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: t.headers,
    body: { subject: 'Files', description: 'See attached.', customer_id: t.customerId },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** POSTs a multipart message; the answer is checked against the OpenAPI document like every other test call. */
async function postFiles(headers: Record<string, string>, ticketId: string, parts: Part[], extra: Record<string, string> = {}, base = stack) {
  const { body, contentType } = multipart(parts);
  const url = `/api/v1/tickets/${ticketId}/messages`;
  const res = await fetch(base.url + url, { method: 'POST', headers: { ...headers, ...extra, 'Content-Type': contentType }, body });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  (await openApiChecker(base.url)).check('POST', url, res.status, res.headers.get('content-type'), parsed);
  return { status: res.status, headers: res.headers, body: parsed };
}

async function download(headers: Record<string, string>, id: string, extra: Record<string, string> = {}, base = stack) {
  const res = await fetch(`${base.url}/api/v1/attachments/${id}`, { headers: { ...headers, ...extra }, redirect: 'manual' });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Every file (hidden temp files and sidecars too) under a tenant's attachment folder. */
function filesOf(tenantId: string): string[] {
  const dir = path.join(objectsDir, 'attachments', tenantId);
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

async function rowsOf(ticketId: string): Promise<{ status: string }[]> {
  return (await stack.admin.query('SELECT status FROM attachments WHERE ticket_id = $1', [ticketId])).rows;
}
const messageCount = async (ticketId: string) =>
  (await stack.admin.query('SELECT count(*)::int AS n FROM messages WHERE ticket_id = $1', [ticketId])).rows[0].n;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Nothing of a refused upload may remain: no row, no object or temp file of the tenant's, no new message. */
async function expectNothingStored(t: Tenant, ticketId: string, messagesBefore: number) {
  expect(await rowsOf(ticketId)).toEqual([]);
  expect(filesOf(t.id).filter((f) => f.includes(ticketId))).toEqual([]);
  expect(await messageCount(ticketId)).toBe(messagesBefore);
}

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
}

describe('upload and download', () => {
  it('stores each file with its SHA-256, links it to the message, lists it, and serves it back byte for byte', async () => {
    const ticketId = await newTicket(acme);
    const image = png(50_000);
    const csv = 'name,amount\nAda,12.50\nÉmile,3\n';
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'Screenshot and export attached.' },
      { name: 'visibility', value: 'public' },
      { name: 'files', filename: 'screen shot.png', type: 'application/octet-stream', data: image },
      { name: 'files', filename: 'export.csv', type: 'text/csv', data: csv },
    ]);
    expect(res.status).toBe(201);
    const [a, b] = res.body.attachments;
    expect(res.body.attachments).toEqual([
      { id: expect.any(String), filename: 'screen shot.png', content_type: 'image/png', size: image.length, sha256: sha256(image) },
      { id: expect.any(String), filename: 'export.csv', content_type: 'text/csv', size: Buffer.byteLength(csv), sha256: sha256(csv) },
    ]);
    expect(await rowsOf(ticketId)).toEqual([{ status: 'linked' }, { status: 'linked' }]);
    // Under attachments/<tenant>/<ticket>/<id>, each with its sidecar.
    expect(
      filesOf(acme.id)
        .map((f) => path.relative(objectsDir, f))
        .sort(),
    ).toEqual(expect.arrayContaining([`attachments/${acme.id}/${ticketId}/${a.id}`, `attachments/${acme.id}/${ticketId}/${b.id}`]));

    const listed = await http(stack, 'GET', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers });
    expect(listed.body.data.map((m: any) => m.attachments)).toEqual([[], res.body.attachments]);
    const one = await http(stack, 'GET', res.headers.get('location')!, { headers: acme.headers });
    expect(one.body.attachments).toEqual(res.body.attachments);

    const got = await download(acme.headers, a.id);
    expect(got.status).toBe(200);
    expect(sha256(got.bytes)).toBe(sha256(image));
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-length')).toBe(String(image.length));
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="screen shot.png"; filename*=UTF-8''screen%20shot.png`);
    expect(got.headers.get('etag')).toBe(`"${sha256(image)}"`);
    expect(got.headers.get('content-security-policy')).toContain('sandbox');
    const text = await download(acme.headers, b.id);
    expect(text.bytes.toString()).toBe(csv);
    expect(text.headers.get('content-type')).toBe('text/csv; charset=utf-8');

    const cached = await download(acme.headers, a.id, { 'If-None-Match': `"${sha256(image)}"` });
    expect(cached.status).toBe(304);
  });

  it('the JSON path is unchanged: a message without files lists none', async () => {
    const ticketId = await newTicket(acme);
    const res = await http(stack, 'POST', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers, body: { body: 'plain' } });
    expect(res.status).toBe(201);
    expect(res.body.attachments).toEqual([]);
    expect(await rowsOf(ticketId)).toEqual([]);
  });

  it('a file of exactly the limit passes', async () => {
    const ticketId = await newTicket(acme);
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'at the limit' },
      { name: 'files', filename: 'max.png', type: 'image/png', data: png(MAX_BYTES - 8) },
    ]);
    expect(res.status).toBe(201);
    expect(res.body.attachments[0].size).toBe(MAX_BYTES);
  });
});

describe('refused uploads leave nothing behind', () => {
  it('one byte over the limit → 413, no row, no object, no message', async () => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'too big' },
      { name: 'files', filename: 'ok.png', type: 'image/png', data: png(1000) },
      { name: 'files', filename: 'huge.png', type: 'image/png', data: png(MAX_BYTES - 7) }, // one byte over
    ]);
    expectProblem(res, 413, 'payload_too_large');
    await expectNothingStored(acme, ticketId, before);
  });

  it.each([
    [
      'a Windows executable renamed .png',
      'invoice.png',
      'image/png',
      Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(4000, 1)]),
    ],
    ['an ELF binary sent as text', 'notes.txt', 'text/plain', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(100)])],
    ['HTML renamed .png', 'cat.png', 'image/png', '<!DOCTYPE html><html><script>alert(document.cookie)</script></html>'],
    ['HTML declared as text/plain', 'readme.txt', 'text/plain', '\n  <html><body onload="alert(1)">hi</body></html>'],
    ['SVG with script', 'logo.png', 'image/png', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ['text that is not UTF-8', 'latin1.txt', 'text/plain', Buffer.from('caf\xe9 cr\xe8me', 'latin1')],
    ['text with a NUL byte', 'nul.csv', 'text/csv', Buffer.from('a,b\n\x00,1\n', 'latin1')],
    ['unknown bytes declared as a PDF', 'report.pdf', 'application/pdf', Buffer.from('not really a pdf at all')],
    ['UTF-8 text declared as HTML', 'page.html', 'text/html', 'just words'],
  ])('%s → 415, nothing stored', async (_what, filename, type, data) => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'disguised' },
      // A good file first: it was stored before the bad one arrived, and must go too.
      { name: 'files', filename: 'fine.png', type: 'image/png', data: png(5000) },
      { name: 'files', filename, type, data },
    ]);
    expectProblem(res, 415, 'unsupported_media_type');
    await expectNothingStored(acme, ticketId, before);
  });

  it('more files than ATTACHMENT_MAX_FILES → 413, nothing stored', async () => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    const files = Array.from({ length: 4 }, (_, i) => ({ name: 'files', filename: `p${i}.png`, type: 'image/png', data: png(100) }));
    const res = await postFiles(acme.headers, ticketId, [{ name: 'body', value: 'many' }, ...files]);
    expectProblem(res, 413, 'payload_too_large');
    await expectNothingStored(acme, ticketId, before);
  });

  it('fields that fail validation after the files were stored → 400, and the stored files are removed', async () => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    for (const fields of [
      [
        { name: 'body', value: 'x' },
        { name: 'visibility', value: 'internal' },
        { name: 'author_type', value: 'customer' },
      ],
      [
        { name: 'body', value: 'x' },
        { name: 'admin', value: 'true' },
      ],
      [{ name: 'body', value: 'nul \u0000 here' }],
      [],
    ]) {
      const res = await postFiles(acme.headers, ticketId, [{ name: 'files', filename: 'a.png', type: 'image/png', data: png(3000) }, ...fields]);
      expectProblem(res, 400, 'validation_failed');
    }
    await expectNothingStored(acme, ticketId, before);
  });

  it('a malformed multipart body → 400, nothing stored', async () => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    const { body, contentType } = multipart([
      { name: 'body', value: 'x' },
      { name: 'files', filename: 'a.png', type: 'image/png', data: png(20_000) },
    ]);
    const cut = body.subarray(0, body.length - 5_000); // the closing boundary never comes
    const res = await fetch(`${stack.url}/api/v1/tickets/${ticketId}/messages`, {
      method: 'POST',
      headers: { ...acme.headers, 'Content-Type': contentType },
      body: cut,
    });
    expect(res.status).toBe(400);
    const noBoundary = await fetch(`${stack.url}/api/v1/tickets/${ticketId}/messages`, {
      method: 'POST',
      headers: { ...acme.headers, 'Content-Type': 'multipart/form-data' },
      body: 'x',
    });
    expect(noBoundary.status).toBe(400);
    await expectNothingStored(acme, ticketId, before);
  });

  it('a message the workflow refuses (closed ticket) leaves nothing', async () => {
    const ticketId = await newTicket(acme);
    await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status: 'solved' } });
    await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status: 'closed' } });
    const before = await messageCount(ticketId);
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'late' },
      { name: 'files', filename: 'a.png', type: 'image/png', data: png(100) },
    ]);
    expectProblem(res, 422, 'ticket_closed');
    await expectNothingStored(acme, ticketId, before);
  });

  it('a ticket closed while its files upload: the workflow refuses the message (422), stored files and rows are removed', async () => {
    const ticketId = await newTicket(acme);
    await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status: 'solved' } });
    const before = await messageCount(ticketId);
    const { body, contentType } = multipart([
      { name: 'body', value: 'racing the close' },
      { name: 'files', filename: 'first.png', type: 'image/png', data: png(20_000) },
      { name: 'files', filename: 'second.png', type: 'image/png', data: png(150_000) },
    ]);
    const req = httpRequest(`${stack.url}/api/v1/tickets/${ticketId}/messages`, {
      method: 'POST',
      headers: { ...acme.headers, 'Content-Type': contentType, 'Content-Length': String(body.length) },
    });
    const answered = new Promise<{ status: number; body: any }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
    });
    req.write(body.subarray(0, 100_000));
    // The first file is stored and the second on its way: the ticket was open when the request began.
    await waitFor('the second file to reach storage', () => filesOf(acme.id).some((f) => f.includes(ticketId) && f.endsWith('.tmp')));
    expect((await http(stack, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { status: 'closed' } })).status).toBe(200);
    req.end(body.subarray(100_000));
    const res = await answered;
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'ticket_closed' });
    await expectNothingStored(acme, ticketId, before);
  });

  it('a client that goes away mid-upload leaves nothing, not even a temp file', async () => {
    const ticketId = await newTicket(acme);
    const before = await messageCount(ticketId);
    const { body, contentType } = multipart([
      { name: 'body', value: 'cut off' },
      { name: 'files', filename: 'big.png', type: 'image/png', data: png(180_000) },
    ]);
    const req = httpRequest(`${stack.url}/api/v1/tickets/${ticketId}/messages`, {
      method: 'POST',
      headers: { ...acme.headers, 'Content-Type': contentType, 'Content-Length': String(body.length) },
    });
    req.on('error', () => undefined);
    req.write(body.subarray(0, 100_000));
    // Streaming has begun: the store holds a temp file for it (the upload is not buffered first)...
    await waitFor('the upload to reach storage', () => filesOf(acme.id).some((f) => f.includes(ticketId) && f.endsWith('.tmp')));
    req.destroy();
    // ...and once the connection is gone, nothing is left.
    await waitFor('the temp file to go', () => !filesOf(acme.id).some((f) => f.includes(ticketId)));
    await expectNothingStored(acme, ticketId, before);
  });
});

describe('filenames cannot be abused', () => {
  it.each([
    ['CR/LF and quotes (header injection)', `filename*=UTF-8''evil%22%0D%0ASet-Cookie%3A%20x%3D1%3B%20.txt`, 'evil_Set-Cookie_ x=1; .txt'],
    ['a path', `filename="../../etc/passwd.txt"`, 'passwd.txt'],
    ['bidi override and zero-width', `filename*=UTF-8''invoice%E2%80%AEtxt.exe%E2%80%8B.txt`, 'invoicetxt.exe.txt'],
    ['unicode', `filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%96%87%E4%BB%B6.txt`, 'résumé 文件.txt'],
    ['nothing usable', `filename="..."`, 'attachment'],
  ])('%s', async (_what, dispositionParams, stored) => {
    const ticketId = await newTicket(acme);
    const res = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'named' },
      { name: 'files', dispositionParams, type: 'text/plain', data: 'hello' },
    ]);
    expect(res.status).toBe(201);
    expect(res.body.attachments[0].filename).toBe(stored);
    const got = await download(acme.headers, res.body.attachments[0].id);
    expect(got.status).toBe(200);
    const disposition = got.headers.get('content-disposition')!;
    expect(disposition).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!._~-]*$/);
    expect(disposition).not.toMatch(/[\r\n]/);
    expect(got.headers.get('set-cookie')).toBeNull();
    // The exact (sanitised) name comes back through filename*.
    expect(decodeURIComponent(disposition.split("filename*=UTF-8''")[1]!)).toBe(stored);
    // The ASCII fallback has no quote, backslash or semicolon that could end the parameter early.
    expect(/filename="([^"]*)"/.exec(disposition)![1]).not.toMatch(/["\\;%]/);
  });
});

describe('who may read an attachment', () => {
  let ticketId: string;
  let publicId: string;
  let internalId: string;
  let readKey: Record<string, string>;

  beforeAll(async () => {
    ticketId = await newTicket(acme);
    const pub = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'for all' },
      { name: 'files', filename: 'public.png', type: 'image/png', data: png(500) },
    ]);
    const note = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'agents only' },
      { name: 'visibility', value: 'internal' },
      { name: 'files', filename: 'internal.png', type: 'image/png', data: png(500) },
    ]);
    publicId = pub.body.attachments[0].id;
    internalId = note.body.attachments[0].id;
    const key = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: acme.admin.headers,
      body: { name: 'reader', scopes: ['tickets:read', 'tickets:write'] },
    });
    readKey = { Authorization: `Bearer ${key.body.token}` };
  });

  it("another tenant's credential gets a 404 for both, and cannot attach to the ticket", async () => {
    expect((await download(globex.headers, publicId)).status).toBe(404);
    expect((await download(globex.admin.headers, internalId)).status).toBe(404);
    const before = await messageCount(ticketId);
    const rowsBefore = await rowsOf(ticketId);
    const res = await postFiles(globex.headers, ticketId, [
      { name: 'body', value: 'intruder' },
      { name: 'files', filename: 'x.png', type: 'image/png', data: png(100) },
    ]);
    expectProblem(res, 404, 'not_found');
    expect(await messageCount(ticketId)).toBe(before);
    expect(await rowsOf(ticketId)).toEqual(rowsBefore);
    expect(filesOf(globex.id)).toEqual([]);
  });

  it('agents see both; an API key sees the public one and gets a 404 for the internal note', async () => {
    expect((await download(acme.headers, publicId)).status).toBe(200);
    expect((await download(acme.headers, internalId)).status).toBe(200);
    expect((await download(readKey, publicId)).status).toBe(200);
    expect((await download(readKey, internalId)).status).toBe(404);
  });

  it('no credential → 401; an unknown or malformed id → 404', async () => {
    expect((await download({}, publicId)).status).toBe(401);
    expect((await download(acme.headers, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await download(acme.headers, '..%2f..%2fetc%2fpasswd')).status).toBe(404);
  });

  it('an upload not linked to any message (in flight) is not served', async () => {
    const id = '11111111-1111-4111-8111-111111111111';
    await stack.admin.query(
      `INSERT INTO attachments (id, tenant_id, ticket_id, filename, content_type, size_bytes, sha256, storage_key, created_by_type)
       VALUES ($1, $2, $3, 'x.png', 'image/png', 1, $4, $5, 'agent')`,
      [id, acme.id, ticketId, sha256('x'), `attachments/${acme.id}/${ticketId}/${id}`],
    );
    expect((await download(acme.headers, id)).status).toBe(404);
    await stack.admin.query('DELETE FROM attachments WHERE id = $1', [id]);
  });

  it('row-level security: the app role sees no other tenant’s rows even without a WHERE', async () => {
    const { rows } = await stack.pool.query('SELECT count(*)::int AS n FROM attachments');
    expect(rows[0].n).toBe(0); // no app.tenant_id set: no tenant at all
  });
});

describe('uploads never linked', () => {
  /** An upload whose message never came: its object, and its row `age` old. */
  async function orphan(ticketId: string, age: string): Promise<string> {
    const id = randomUUID();
    const key = `attachments/${acme.id}/${ticketId}/${id}`;
    await createObjectStorage(stack.config).put(key, Readable.from([Buffer.from('left behind')]), { contentType: 'text/plain' });
    await stack.admin.query(
      `INSERT INTO attachments (id, tenant_id, ticket_id, filename, content_type, size_bytes, sha256, storage_key, created_by_type, created_at)
       VALUES ($1, $2, $3, 'o.txt', 'text/plain', 11, $4, $5, 'agent', now() - $6::interval)`,
      [id, acme.id, ticketId, sha256('left behind'), key, age],
    );
    return key;
  }
  async function linkedUpload(ticketId: string) {
    const linked = await postFiles(acme.headers, ticketId, [
      { name: 'body', value: 'kept' },
      { name: 'files', filename: 'kept.png', type: 'image/png', data: png(100) },
    ]);
    expect(linked.status).toBe(201);
    return linked.body.attachments[0].id as string;
  }

  it('sweep-attachments removes them once they are old enough (object, then row), and nothing else', async () => {
    const ticketId = await newTicket(acme);
    const linked = await linkedUpload(ticketId);
    const storage = createObjectStorage(stack.config);
    const old = await orphan(ticketId, '2 hours');
    const fresh = await orphan(ticketId, '1 minute');
    expect(await sweepUnlinkedAttachments(stack.admin, storage, new Date(Date.now() - 60 * 60 * 1000))).toBe(1);
    expect(await storage.head(old)).toBeNull();
    expect(await storage.head(fresh)).not.toBeNull();
    expect((await rowsOf(ticketId)).map((r) => r.status).sort()).toEqual(['linked', 'stored']);
    expect((await download(acme.headers, linked)).status).toBe(200);
  });
});

describe('on S3 (s3rver through the AWS SDK)', () => {
  let s3: S3TestServer;
  let s3Stack: TestStack;

  beforeAll(async () => {
    s3 = await startS3Server('deskflow-attachments');
    s3Stack = await startStack({
      OBJECT_STORAGE: 's3',
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
      ATTACHMENT_URL_TTL: '60s',
    });
  });
  afterAll(async () => {
    await s3Stack?.close();
    await s3?.stop();
  });

  it('a download redirects to a short-lived pre-signed URL carrying the disposition; oversized leaves no object', async () => {
    const created = await http(s3Stack, 'POST', '/api/v1/tickets', {
      headers: acme.headers,
      body: { subject: 'S3', description: 'files', customer_id: acme.customerId },
    });
    const ticketId = created.body.id;
    const image = png(30_000);
    const res = await postFiles(
      acme.headers,
      ticketId,
      [
        { name: 'body', value: 'on s3' },
        { name: 'files', filename: 'résumé.png', type: 'image/png', data: image },
      ],
      {},
      s3Stack,
    );
    expect(res.status).toBe(201);
    const got = await download(acme.headers, res.body.attachments[0].id, {}, s3Stack);
    expect(got.status).toBe(302);
    const location = new URL(got.headers.get('location')!);
    expect(location.origin).toBe(s3.endpoint);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(location.searchParams.get('response-content-disposition')).toBe(`attachment; filename="r_sum_.png"; filename*=UTF-8''r%C3%A9sum%C3%A9.png`);
    const fetched = await fetch(location);
    expect(fetched.status).toBe(200);
    expect(sha256(Buffer.from(await fetched.arrayBuffer()))).toBe(sha256(image));

    const refused = await postFiles(
      acme.headers,
      ticketId,
      [
        { name: 'body', value: 'too big' },
        { name: 'files', filename: 'huge.png', type: 'image/png', data: png(MAX_BYTES) },
      ],
      {},
      s3Stack,
    );
    expect(refused.status).toBe(413);
    const storage = createObjectStorage(s3Stack.config);
    try {
      const listed = await storage.list(`attachments/${acme.id}/${ticketId}/`);
      expect(listed.objects.map((o) => o.key)).toEqual([`attachments/${acme.id}/${ticketId}/${res.body.attachments[0].id}`]);
    } finally {
      await storage.close();
    }
  });
});
