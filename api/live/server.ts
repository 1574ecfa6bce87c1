/**
 * `/api/v1/live`: the WebSocket endpoint agents keep open (issue #11; protocol in domain/live.ts, README "Live
 * updates"). Attached to the API's HTTP server; every node runs one, fed by the live bus (platform/live-bus.ts).
 *
 * A connection authenticates with `Authorization: Bearer` on the upgrade, with `Sec-WebSocket-Protocol:
 * deskflow.v1, bearer.<token>`, or with an `auth` first message; tokens are never logged. It then receives its
 * queue, narrowed by `subscribe`; resumes from a last event id; and is closed (LIVE_CLOSE) when its credential
 * stops being valid, when it reads too slowly, or when the node drains.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { DeskflowError } from '../../domain/errors';
import { ClientMessage, LIVE_CLOSE, type LiveEventId, type ServerMessage } from '../../domain/live';
import type { Config } from '../../platform/config';
import { compareLiveIds, eventsSince, type LiveBusMessage, liveWindowOf, newestLiveEventId } from '../../platform/live-bus';
import type { Logger } from '../../platform/logger';
import { presenceStore } from '../../stores/presence';
import { ticketStore } from '../../stores/tickets';
import { userStore } from '../../stores/users';
import { type Authenticated, LiveError, liveCredentials, originAllowed, sourceOf, upgradeToken } from './credentials';
import { createFanout } from './fanout';
import { SendQueue } from './send-queue';
import { mayReceive, type Subscription } from './visibility';

export const LIVE_PATH = '/api/v1/live';
export const LIVE_PROTOCOL = 'deskflow.v1';
/** Client messages per connection per second; more closes it (1008). Presence repeats every ~20 s; this is slack. */
const MAX_MESSAGES_PER_SECOND = 50;
/** How long a closing connection may take to read what was sent before its close frame. */
const CLOSE_GRACE_MS = 10_000;

export interface LiveDeps {
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  log: Logger;
}

export interface LiveServer {
  /** Open connections on this node. */
  connections(): number;
  /** SIGTERM: refuse new connections, tell every client to reconnect elsewhere (1012), wait (bounded) for them to go. */
  drain(timeoutMs?: number): Promise<void>;
}

function reject(socket: Duplex, status: number, title: string, detail: string): void {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function attachLiveServer(server: Server, deps: LiveDeps): LiveServer {
  const { config, redis, log } = deps;
  const { authenticate, stillValid } = liveCredentials(deps);
  const window = liveWindowOf(config);
  const fanout = createFanout(redis, log, window);
  const presence = presenceStore(redis, { ttlMs: config.LIVE_PRESENCE_TTL, typingTtlMs: config.LIVE_TYPING_TTL });
  const tickets = ticketStore(deps.pool);
  const users = userStore(deps.pool);
  const origins = new Set(
    config.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  );
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.LIVE_MAX_MESSAGE,
    perMessageDeflate: false, // CPU and memory per connection; events are small
    handleProtocols: (protocols) => (protocols.has(LIVE_PROTOCOL) ? LIVE_PROTOCOL : false),
  });
  const open = new Set<Connection>();
  // An event's frame is serialised once for all the connections it goes to (the bus hands them the same object).
  const frames = new WeakMap<object, string>();
  const eventFrame = (message: Extract<LiveBusMessage, { kind: 'event' }>): string => {
    let frame = frames.get(message);
    if (frame === undefined) {
      frame = JSON.stringify({ type: 'event', id: message.id, event: message.event } satisfies ServerMessage);
      frames.set(message, frame);
    }
    return frame;
  };
  const perUser = new Map<string, number>();
  let draining = false;

  class Connection {
    auth: Authenticated | null = null;
    sub: Subscription = { queue: {}, tickets: new Set() };
    alive = true;
    /** While a resume replays the stream, live messages wait here (then only those after the replay are sent). */
    private held: (LiveBusMessage | { kind: 'gap' })[] | null = null;
    private lastSent: LiveEventId | null = null;
    private stopListening: (() => void) | null = null;
    /** Tickets this connection said it is on (left when it closes). */
    private onTickets = new Set<string>();
    private status: 'online' | 'away' = 'online';
    private who: { tenantId: string; id: string; name: string } | null = null;
    private expiryTimer: NodeJS.Timeout | undefined;
    private closed = false;

    // A client that does not read is closed, never buffered without bound.
    private outgoing: SendQueue;

    constructor(
      readonly ws: WebSocket,
      readonly source: string,
    ) {
      this.outgoing = new SendQueue(ws, config.LIVE_MAX_BUFFER, () => this.close(LIVE_CLOSE.slowConsumer, 'slow consumer: the send buffer is full'));
    }

    /** `coalesceKey`: while the client is behind, a later message with the same key replaces this one. */
    send(message: ServerMessage, coalesceKey?: string): void {
      if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
      this.outgoing.push(JSON.stringify(message), coalesceKey);
    }

    close(code: number, reason: string): void {
      if (this.closed) return;
      this.closed = true;
      this.outgoing.clear();
      this.ws.close(code, reason.slice(0, 120));
      // A peer that never answers the close (or never reads) is cut off; nothing more is queued for it meanwhile.
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    }

    async start(auth: Authenticated, lastEventId: LiveEventId | undefined): Promise<void> {
      const { identity } = auth;
      if (!identity.scopes.has('tickets:read')) throw new LiveError(LIVE_CLOSE.forbidden, 'this credential lacks the tickets:read scope');
      const who = `${identity.tenantId}:${identity.actor.type}:${identity.actor.id}`;
      const count = perUser.get(who) ?? 0;
      if (count >= config.LIVE_MAX_CONNECTIONS_PER_USER)
        throw new LiveError(LIVE_CLOSE.tooManyConnections, `at most ${config.LIVE_MAX_CONNECTIONS_PER_USER} live connections per user`);
      perUser.set(who, count + 1);
      this.auth = auth;
      this.scheduleExpiry();
      this.held = lastEventId ? [] : null;
      const stop = await fanout.listen(identity.tenantId, (m) => this.deliver(m));
      if (this.closed) return stop(); // it closed while subscribing: nothing to keep
      this.stopListening = stop;
      const exp = auth.claims ? new Date(auth.claims.exp * 1000).toISOString() : null;
      const userId = identity.credential.kind === 'user' ? identity.credential.userId : null;
      this.send({ type: 'ready', user_id: userId, tenant_id: identity.tenantId, heartbeat_ms: config.LIVE_HEARTBEAT, token_expires_at: exp });
      if (lastEventId) await this.resume(lastEventId);
      // The user's first connection on this node says they are online (the rechecks keep it so).
      if (identity.credential.kind === 'user' && count === 0)
        await presence.setStatus(identity.tenantId, identity.credential.userId, 'online', config.LIVE_PRESENCE_TTL);
    }

    /** The connection's user (presence is for people: an API key gets a 400). */
    async user(): Promise<{ tenantId: string; id: string; name: string }> {
      if (this.who) return this.who;
      const credential = this.auth!.identity.credential;
      if (credential.kind !== 'user') throw new DeskflowError('validation_failed', 'presence and status are for users, not API keys');
      const tenantId = this.auth!.identity.tenantId;
      const user = await users.get(tenantId, credential.userId);
      this.who = { tenantId, id: credential.userId, name: user?.name ?? 'unknown' };
      return this.who;
    }

    private scheduleExpiry(): void {
      const claims = this.auth?.claims;
      if (!claims) return;
      clearTimeout(this.expiryTimer);
      const left = Math.max(0, claims.exp * 1000 - Date.now());
      this.expiryTimer = setTimeout(
        () => this.close(LIVE_CLOSE.tokenExpired, 'the access token expired: renew it over the socket'),
        Math.min(left, 2 ** 31 - 1),
      );
    }

    /** Is the credential still good? (closes the connection when not) */
    async recheck(): Promise<boolean> {
      if (!this.auth || this.closed) return false;
      try {
        if (await stillValid(this.auth)) return true;
        this.close(LIVE_CLOSE.revoked, 'the session has ended, the credential was revoked or its access changed');
      } catch (err) {
        log.warn({ err }, 'live credential recheck failed; checked again at the next interval');
      }
      return false;
    }

    /** The user's status as this connection sees it (null for API keys). */
    presenceOf(): { tenantId: string; userId: string; status: 'online' | 'away' } | null {
      const credential = this.auth?.identity.credential;
      if (credential?.kind !== 'user') return null;
      return { tenantId: this.auth!.identity.tenantId, userId: credential.userId, status: this.status };
    }

    async resume(lastEventId: LiveEventId): Promise<void> {
      const tenantId = this.auth!.identity.tenantId;
      this.held ??= [];
      try {
        const missed = await eventsSince(redis, tenantId, lastEventId, window);
        if (missed === 'gap') {
          // Re-read over REST, then carry on from the newest event (it is in what REST shows).
          const newest = await newestLiveEventId(redis, tenantId);
          if (newest) this.lastSent = newest;
          this.send({ type: 'resync', reason: 'gap', last_event_id: newest });
        } else {
          for (const record of missed) this.deliver({ kind: 'event', ...record }, true);
        }
      } finally {
        const held = this.held ?? [];
        this.held = null;
        for (const m of held) this.deliver(m);
      }
    }

    /** A message from the bus (or a replayed one): sent if this connection may see it, once, in id order. */
    deliver(message: LiveBusMessage | { kind: 'gap' }, replaying = false): void {
      if (!this.auth || this.closed) return;
      if (this.held && !replaying) {
        this.held.push(message);
        return;
      }
      if (message.kind === 'gap') {
        this.send({ type: 'resync', reason: 'gap', last_event_id: null });
        return;
      }
      if (!mayReceive(this.auth.identity, this.sub, message)) return;
      if (message.kind === 'event') {
        if (this.lastSent && compareLiveIds(message.id, this.lastSent) <= 0) return; // seen in the replay already
        this.lastSent = message.id;
        // A burst of updates of one ticket to a client that is behind collapses to the latest (send-queue.ts).
        const key = message.event.type === 'ticket.updated' && message.ticket ? `updated:${message.ticket.id}` : undefined;
        if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
        this.outgoing.push(eventFrame(message), key);
      } else if (message.kind === 'presence') {
        this.send({ type: 'presence', ticket_id: message.ticket_id, viewers: message.viewers });
      } else {
        this.send({ type: 'agent_status', user_id: message.user_id, status: message.status });
      }
    }

    async handle(message: ClientMessage): Promise<void> {
      switch (message.type) {
        case 'auth':
          if (this.auth) throw new DeskflowError('validation_failed', 'already authenticated');
          return this.start(await authenticate(message.token, this.source), message.last_event_id);
        case 'renew': {
          const next = await authenticate(message.token, this.source);
          const current = this.auth!.identity;
          if (next.identity.tenantId !== current.tenantId || next.identity.actor.id !== current.actor.id || !next.claims)
            throw new DeskflowError('validation_failed', 'renew needs an access token of the same user');
          this.auth = next;
          this.scheduleExpiry();
          return;
        }
        case 'subscribe': {
          if (message.queue !== undefined) this.sub.queue = message.queue;
          const fresh = (message.tickets ?? []).filter((id) => !this.sub.tickets.has(id));
          if (this.sub.tickets.size + fresh.length > 100) throw new DeskflowError('validation_failed', 'at most 100 followed tickets');
          for (const id of fresh) this.sub.tickets.add(id);
          // Who is on each newly followed ticket now (changes follow as `presence` messages).
          const tenantId = this.auth!.identity.tenantId;
          for (const id of fresh) this.send({ type: 'presence', ticket_id: id, viewers: await presence.viewers(tenantId, id) });
          return;
        }
        case 'unsubscribe':
          for (const id of message.tickets) this.sub.tickets.delete(id);
          return;
        case 'resume':
          return this.resume(message.last_event_id);
        case 'presence': {
          const user = await this.user();
          if (message.state === 'left') {
            this.onTickets.delete(message.ticket_id);
            await presence.leave(user.tenantId, message.ticket_id, user.id);
            return;
          }
          // Only a ticket of the tenant's (checked once per connection): presence never names anything else.
          if (!this.onTickets.has(message.ticket_id)) {
            if (!(await tickets.get(user.tenantId, message.ticket_id))) throw new DeskflowError('validation_failed', 'no such ticket');
            if (this.onTickets.size >= 100) throw new DeskflowError('validation_failed', 'on at most 100 tickets at once');
            this.onTickets.add(message.ticket_id);
          }
          await presence.touch(user.tenantId, message.ticket_id, user, message.state);
          return;
        }
        case 'status': {
          const user = this.presenceOf();
          if (!user) throw new DeskflowError('validation_failed', 'presence and status are for users, not API keys');
          this.status = message.status;
          await presence.setStatus(user.tenantId, user.userId, message.status, config.LIVE_PRESENCE_TTL);
          return;
        }
      }
    }

    dispose(): void {
      this.closed = true;
      clearTimeout(this.expiryTimer);
      this.stopListening?.();
      const identity = this.auth?.identity;
      if (identity) {
        const who = `${identity.tenantId}:${identity.actor.type}:${identity.actor.id}`;
        const left = (perUser.get(who) ?? 1) - 1;
        if (left > 0) perUser.set(who, left);
        else perUser.delete(who);
        const user = this.presenceOf();
        if (user) {
          const gone = [...this.onTickets].map((ticketId) => presence.leave(user.tenantId, ticketId, user.userId));
          // Offline once no connection of the user is left on this node (another node's refreshes it within a recheck).
          if (left <= 0) gone.push(presence.setStatus(user.tenantId, user.userId, 'offline', 0).then(() => []));
          void Promise.allSettled(gone);
        }
      }
    }
  }

  function refuse(conn: Connection, err: unknown): void {
    if (err instanceof LiveError) conn.close(err.code, err.message);
    else {
      log.warn({ err }, 'live connection failed');
      conn.close(1011, 'internal error');
    }
  }

  wss.on('connection', (ws: WebSocket, req: IncomingMessage, preAuth: Authenticated | null) => {
    const conn = new Connection(ws, sourceOf(req, config.TRUST_PROXY));
    open.add(conn);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('close', () => {
      open.delete(conn);
      conn.dispose();
    });
    ws.on('error', () => undefined); // a broken socket ends in 'close'
    // Messages are handled one at a time, in order (a subscribe after an auth applies after it).
    let queue = Promise.resolve();
    let windowStart = Date.now();
    let inWindow = 0;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      // A flood of client messages (each may cost a Redis call) is a policy violation, not something to queue.
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        inWindow = 0;
      }
      if (++inWindow > MAX_MESSAGES_PER_SECOND) return conn.close(LIVE_CLOSE.policy, `more than ${MAX_MESSAGES_PER_SECOND} messages per second`);
      queue = queue.then(async () => {
        let parsed: ClientMessage;
        try {
          if (isBinary) throw new Error('binary frames are not part of the protocol');
          const result = ClientMessage.safeParse(JSON.parse(data.toString()));
          if (!result.success) throw new Error(result.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; '));
          parsed = result.data;
        } catch (err) {
          if (!conn.auth) return conn.close(LIVE_CLOSE.unauthenticated, 'the first message must be a valid auth message');
          return conn.send({ type: 'error', status: 400, title: 'Bad message', detail: (err as Error).message.slice(0, 500) });
        }
        if (!conn.auth && parsed.type !== 'auth') return conn.close(LIVE_CLOSE.unauthenticated, 'authenticate first');
        try {
          await conn.handle(parsed);
        } catch (err) {
          if (err instanceof DeskflowError && err.code === 'validation_failed' && conn.auth)
            return conn.send({ type: 'error', status: 400, title: 'Bad message', detail: err.message });
          refuse(conn, err);
        }
      });
    });
    if (preAuth) {
      queue = queue.then(() => conn.start(preAuth, undefined).catch((err) => refuse(conn, err)));
    } else {
      const timer = setTimeout(() => {
        if (!conn.auth) conn.close(LIVE_CLOSE.unauthenticated, 'no credential within the authentication timeout');
      }, config.LIVE_AUTH_TIMEOUT);
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== LIVE_PATH) return reject(socket, 404, 'Not Found', 'no WebSocket endpoint here');
    if (draining) return reject(socket, 503, 'Service Unavailable', 'this node is shutting down: connect to another');
    if (!originAllowed(req, origins)) return reject(socket, 403, 'Forbidden', 'this origin may not open live connections');
    const token = upgradeToken(req);
    const accept = (auth: Authenticated | null) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req, auth));
    if (!token) return accept(null);
    authenticate(token, sourceOf(req, config.TRUST_PROXY)).then(accept, (err) => {
      if (err instanceof LiveError) return reject(socket, err.httpStatus, err.httpStatus === 429 ? 'Too Many Requests' : 'Unauthorized', err.message);
      log.warn({ err }, 'live authentication failed');
      reject(socket, 503, 'Service Unavailable', 'authentication is unavailable; try again');
    });
  });

  const heartbeat = setInterval(() => {
    for (const conn of open) {
      if (!conn.alive) {
        conn.close(LIVE_CLOSE.heartbeatTimeout, 'no pong within the heartbeat interval');
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, config.LIVE_HEARTBEAT);
  heartbeat.unref();
  // Every connection's credential is checked again, and each user's status refreshed once (online if any of their
  // connections here says so), every LIVE_AUTH_RECHECK: one timer for the node, not one per connection.
  const rechecks = setInterval(async () => {
    const statuses = new Map<string, NonNullable<ReturnType<Connection['presenceOf']>>>();
    await Promise.all(
      [...open].map(async (conn) => {
        const p = (await conn.recheck()) ? conn.presenceOf() : null;
        const key = p && `${p.tenantId}:${p.userId}`;
        if (p && key && statuses.get(key)?.status !== 'online') statuses.set(key, p);
      }),
    );
    for (const p of statuses.values())
      await presence.setStatus(p.tenantId, p.userId, p.status, config.LIVE_PRESENCE_TTL).catch((err) => log.warn({ err }, 'status refresh failed'));
  }, config.LIVE_AUTH_RECHECK);
  rechecks.unref();
  // Viewers that vanished without `left` (a closed laptop) are removed and announced within a second.
  const sweeper = setInterval(() => void presence.sweep().catch((err) => log.warn({ err }, 'presence sweep failed')), 1000);
  sweeper.unref();
  server.once('close', () => {
    clearInterval(heartbeat);
    clearInterval(sweeper);
    clearInterval(rechecks);
    void fanout.close();
  });

  return {
    connections: () => open.size,
    async drain(timeoutMs = 5000) {
      draining = true;
      for (const conn of open) {
        conn.send({ type: 'reconnect', reason: 'draining' });
        conn.close(LIVE_CLOSE.restart, 'this node is shutting down: reconnect and resume');
      }
      const deadline = Date.now() + timeoutMs;
      while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const conn of open) conn.ws.terminate();
      clearInterval(heartbeat);
      clearInterval(sweeper);
      clearInterval(rechecks);
      await fanout.close();
    },
  };
}
