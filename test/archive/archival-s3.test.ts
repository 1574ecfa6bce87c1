/**
 * Archival on the S3 backend: the AWS SDK v3 against `@20minutes/s3rver` (started by the test, as the object-storage
 * suite does) under a key prefix. Archive, read the document, the objects and their storage class; another tenant
 * sees nothing; restore, and the files download again (through pre-signed URLs) with their bytes.
 */
import { createHash } from 'node:crypto';
import { ArchiveDocument } from '../../domain/archive';
import type { ObjectStorage } from '../../platform/object-storage';
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { startS3Server, type S3TestServer } from '../support/s3-server';
import { createTenant, http, type Tenant, type TestStack } from '../support/stack';
import { closedTicket, hotRows, keysUnder, objectSha, runArchival, sha256, storageOf, ticketView } from './support';

let s3: S3TestServer;
let iso: IsolatedStack;
let stack: TestStack;
let storage: ObjectStorage;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  s3 = await startS3Server();
  iso = await startIsolatedStack('archival_s3', {
    OBJECT_STORAGE: 's3',
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_KEY_PREFIX: 'deskflow-archival/',
    // @20minutes/s3rver knows the classes up to DEEP_ARCHIVE but not GLACIER_IR (see test/storage): STANDARD_IA.
    ARCHIVE_STORAGE_CLASS: 'STANDARD_IA',
  });
  stack = iso.stack;
  storage = storageOf(stack);
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
}, 180_000);

afterAll(async () => {
  await storage?.close();
  await iso?.close();
  await s3?.stop();
});

it('archives to S3, serves the document, and restores from it', async () => {
  const t = await closedTicket(stack, acme, { closedDaysAgo: 100 });
  const before = await ticketView(stack, acme.headers, t.id);
  const run = await runArchival(stack);
  expect(run.totals).toMatchObject({ archived: 1, failed: 0 });
  expect(await hotRows(stack, t.id)).toEqual({ tickets: 0, messages: 0, events: 0, sla: 0, attachments: 0 });

  const meta = await http(stack, 'GET', `/api/v1/tickets/${t.id}`, { headers: acme.headers });
  expect(meta.body).toMatchObject({ archived_at: expect.any(String), archive: { attachments: 3, storage_class: 'STANDARD_IA' } });
  const folder = meta.body.archive.location.replace(/ticket\.json$/, '');
  expect(folder).toMatch(new RegExp(`^archive/${acme.id}/\\d{4}/\\d{2}/${t.id}/$`));
  expect((await keysUnder(storage, folder)).sort()).toEqual([`${folder}ticket.json`, ...t.files.map((f) => `${folder}attachments/${f.id}`)].sort());
  for (const f of t.files) {
    expect(await objectSha(storage, `${folder}attachments/${f.id}`)).toBe(f.sha256);
    expect((await storage.head(`${folder}attachments/${f.id}`))?.storageClass).toBe('STANDARD_IA');
  }
  expect(await keysUnder(storage, `attachments/${acme.id}/${t.id}/`)).toEqual([]);

  // Streamed through the API (never a redirect: the document is checked against its SHA-256 on the way).
  const res = await fetch(`${stack.url}/api/v1/tickets/${t.id}/archive`, { headers: acme.headers, redirect: 'manual' });
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(sha256(bytes)).toBe(meta.body.archive.sha256);
  const doc = ArchiveDocument.parse(JSON.parse(bytes.toString('utf8')));
  expect(doc.messages.map((m) => m.body)).toEqual(before.messages.map((m) => m.body));
  expect(doc.attachments.map((a) => a.sha256).sort()).toEqual(t.files.map((f) => f.sha256).sort());

  expect((await http(stack, 'GET', `/api/v1/tickets/${t.id}/archive`, { headers: globex.admin.headers })).status).toBe(404);
  expect((await http(stack, 'POST', `/api/v1/tickets/${t.id}/restore`, { headers: globex.admin.headers })).status).toBe(404);

  const restored = await http(stack, 'POST', `/api/v1/tickets/${t.id}/restore`, { headers: acme.admin.headers });
  expect(restored.status).toBe(200);
  expect(await ticketView(stack, acme.headers, t.id)).toEqual(before);
  for (const f of t.files) {
    const redirect = await fetch(`${stack.url}/api/v1/attachments/${f.id}`, { headers: acme.admin.headers, redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const file = await fetch(redirect.headers.get('location')!);
    expect(file.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await file.arrayBuffer()))
        .digest('hex'),
    ).toBe(f.sha256);
  }
}, 240_000);
