/**
 * Helpers for the webhook delivery suites: real loopback receivers that verify every request they get (with
 * the independent `standardwebhooks` package and with node:crypto), and endpoint/event/delivery rows written
 * as the owner (the endpoint API and the projection fan-out write them in production).
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { createFieldCrypto } from '../../platform/field-crypto';
import type { TestStack } from '../support/stack';

export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Secrets every request must verify with (each one alone). */
  secrets: string[];
  /** Verification failures seen so far (expected empty). */
  problems: string[];
  answer: (req: { headers: IncomingHttpHeaders; body: string; index: number }) => Answer;
  close(): Promise<void>;
}

/** HMAC-SHA256 over `id.timestamp.body` with node:crypto, as the spec defines it. */
export function recompute(secret: string, headers: IncomingHttpHeaders, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64')}`;
}

export function verifies(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  try {
    new Webhook(secret).verify(body, headers as Record<string, string>);
  } catch {
    return false;
  }
  return String(headers['webhook-signature'])
    .split(' ')
    .includes(recompute(secret, headers, body));
}

export async function startReceiver(answer: Receiver['answer'] = () => ({ status: 200 })): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    secrets: [],
    problems: [],
    answer,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      for (const secret of receiver.secrets) {
        if (!verifies(secret, req.headers, body)) receiver.problems.push(`request ${receiver.received.length} does not verify with a secret`);
      }
      const a = receiver.answer({ headers: req.headers, body, index: receiver.received.length });
      receiver.received.push({ at: Date.now(), headers: req.headers, body, status: a.status });
      res.writeHead(a.status, a.headers);
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

export async function seedEndpoint(
  stack: TestStack,
  tenantId: string,
  url: string,
  opts: { secret?: string; previous?: string; headers?: Record<string, string> } = {},
): Promise<{ id: string; secret: string }> {
  const crypto = createFieldCrypto(stack.config);
  const id = randomUUID();
  const secret = opts.secret ?? newSecret();
  await stack.admin.query(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, headers, secret_enc, previous_secret_enc, previous_secret_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::text IS NULL THEN NULL ELSE now() + interval '1 day' END)`,
    [id, tenantId, url, JSON.stringify(opts.headers ?? {}), crypto.encrypt(secret), opts.previous ? crypto.encrypt(opts.previous) : null],
  );
  return { id, secret };
}

let version = 0;

/** An event and its delivery to one endpoint, as the projection's fan-out writes them (due at once). */
export async function seedDelivery(
  stack: TestStack,
  tenantId: string,
  endpointId: string,
  opts: { ticketId?: string; type?: string } = {},
): Promise<{ id: string; body: string; eventSeq: string }> {
  const ticketId = opts.ticketId ?? randomUUID();
  const type = opts.type ?? 'ticket.updated';
  const v = ++version;
  const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data: { ticket_id: ticketId, version: v, note: 'héllo ✓' } });
  const { rows } = await stack.admin.query<{ seq: string }>(
    'INSERT INTO webhook_events (id, tenant_id, type, ticket_id, ticket_version, body) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq',
    [randomUUID(), tenantId, type, ticketId, v, body],
  );
  const id = randomUUID();
  await stack.admin.query('INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, ticket_id) VALUES ($1, $2, $3, $4, $5, $6)', [
    id,
    tenantId,
    endpointId,
    rows[0]!.seq,
    type,
    ticketId,
  ]);
  return { id, body, eventSeq: rows[0]!.seq };
}

export async function deliveryRow(stack: TestStack, id: string) {
  const { rows } = await stack.admin.query('SELECT status, attempts, last_status, last_error, delivered_at FROM webhook_deliveries WHERE id = $1', [id]);
  return rows[0];
}

/** Polls until `ok` holds (bounded), returning the last value either way; the caller asserts on it. */
export async function eventually<T>(fn: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}
