/** Real `ws` clients of `/api/v1/live` for the live-updates suites. */
import WebSocket from 'ws';
import type { ServerMessage } from '../../domain/live';
import type { TestStack } from '../support/stack';

export interface LiveTestClient {
  ws: WebSocket;
  messages: ServerMessage[];
  events(): Extract<ServerMessage, { type: 'event' }>[];
  send(message: unknown): void;
  /** The first message (from now on, or already received) matching `pred`. */
  waitFor<T extends ServerMessage>(pred: (m: ServerMessage) => m is T, ms?: number): Promise<T>;
  waitFor(pred: (m: ServerMessage) => boolean, ms?: number): Promise<ServerMessage>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export const liveUrl = (stack: Pick<TestStack, 'url'>) => `${stack.url.replace(/^http/, 'ws')}/api/v1/live`;

export interface ConnectOptions {
  /** How the token travels: the upgrade's Authorization header (default), the subprotocol, or a first message. */
  via?: 'header' | 'protocol' | 'message' | 'none';
  lastEventId?: string;
  origin?: string;
  /** More upgrade headers (e.g. X-Forwarded-For behind a trusted proxy). */
  headers?: Record<string, string>;
}

/** Opens a connection; resolves once it is open (and, when a token was given, once `ready` arrived). */
export async function connectLive(stack: Pick<TestStack, 'url'>, token: string | null, opts: ConnectOptions = {}): Promise<LiveTestClient> {
  const via = token === null ? 'none' : (opts.via ?? 'header');
  const headers: Record<string, string> = { ...opts.headers };
  if (via === 'header') headers.Authorization = `Bearer ${token}`;
  if (opts.origin) headers.Origin = opts.origin;
  const protocols = via === 'protocol' ? ['deskflow.v1', `bearer.${token}`] : ['deskflow.v1'];
  const ws = new WebSocket(liveUrl(stack), protocols, { headers });
  const messages: ServerMessage[] = [];
  const waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as ServerMessage;
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  const client: LiveTestClient = {
    ws,
    messages,
    events: () => messages.filter((m): m is Extract<ServerMessage, { type: 'event' }> => m.type === 'event'),
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    waitFor: ((pred: (m: ServerMessage) => boolean, ms = 10_000) => {
      const seen = messages.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise<ServerMessage>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching live message within ${ms} ms; got ${JSON.stringify(messages).slice(0, 800)}`)), ms);
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    }) as LiveTestClient['waitFor'],
    closed,
    close: () => ws.close(),
  };
  if (via === 'message') client.send({ type: 'auth', token, ...(opts.lastEventId ? { last_event_id: opts.lastEventId } : {}) });
  if (via !== 'none') await client.waitFor((m) => m.type === 'ready');
  if (via !== 'message' && via !== 'none' && opts.lastEventId) client.send({ type: 'resume', last_event_id: opts.lastEventId });
  return client;
}

/** Events of one ticket, by type, in the order received. */
export const typesOf = (client: LiveTestClient, ticketId: string) =>
  client
    .events()
    .filter((e) => (e.event.data as { ticket_id?: string }).ticket_id === ticketId)
    .map((e) => e.event.type);
