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
import { ROLE_SCOPES, type Scope } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import type { Identity } from '../../domain/identity';
import { ClientMessage, LIVE_CLOSE, type LiveEventId, type ServerMessage } from '../../domain/live';
import { looksLikeApiKey } from '../../platform/api-keys';
import type { Config } from '../../platform/config';
import { createFieldCrypto } from '../../platform/field-crypto';
import { compareLiveIds, eventsSince, type LiveBusMessage, liveWindowOf } from '../../platform/live-bus';
import type { Logger } from '../../platform/logger';
import { apiKeyStore } from '../../stores/api-keys';
import { apiKeyVerifier } from '../auth/authenticate';
import { sessionStore } from '../auth/sessions';
import { SigningKeyRing } from '../auth/signing-keys';
import { type AccessClaims, accessTokens } from '../auth/tokens';
import { createFanout } from './fanout';
import { mayReceive, type Subscription } from './visibility';

export const LIVE_PATH = '/api/v1/live';
export const LIVE_PROTOCOL = 'deskflow.v1';
const BEARER_PROTOCOL = 'bearer.';
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

interface Authenticated {
  identity: Identity;
  /** Access-token claims (users); null for API keys. */
  claims: AccessClaims | null;
  /** The API key itself, checked again at every recheck (kept in memory only). */
  apiKey: string | null;
}

class LiveError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Allowed browser origins: the API's own (same host) and CORS_ORIGINS. A client without Origin is not a browser. */
function originAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.has(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** The bearer token of an upgrade (header or subprotocol), if any; never logged. */
function upgradeToken(req: IncomingMessage): string | null {
  const header = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(req.headers.authorization ?? '');
  if (header) return header[1]!;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL));
  return bearer ? bearer.slice(BEARER_PROTOCOL.length) || null : null;
}

function reject(socket: Duplex, status: number, title: string, detail: string): void {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function attachLiveServer(server: Server, deps: LiveDeps): LiveServer {
  const { config, redis, log } = deps;
  const crypto = createFieldCrypto(config);
  const keys = new SigningKeyRing(deps.pool, crypto, config.SIGNING_KEY_ROTATION);
  const tokens = accessTokens(keys, { issuer: config.JWT_ISSUER, ttlMs: config.ACCESS_TOKEN_TTL });
  const sessions = sessionStore(redis, { refreshMs: config.REFRESH_TOKEN_TTL, sessionMs: config.SESSION_TTL });
  const verifyApiKey = apiKeyVerifier(apiKeyStore(deps.pool));
  const fanout = createFanout(redis, log);
  const window = liveWindowOf(config);
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
  const perUser = new Map<string, number>();
  let draining = false;

  async function authenticate(token: string): Promise<Authenticated> {
    try {
      if (looksLikeApiKey(token)) return { identity: await verifyApiKey(token), claims: null, apiKey: token };
      const claims = await tokens.verify(token);
      if (!(await sessions.accessAllowed(claims))) throw new LiveError(LIVE_CLOSE.revoked, 'the session has ended or the token was revoked');
      const identity: Identity = {
        tenantId: claims.tid,
        actor: { type: 'agent', id: claims.sub },
        scopes: new Set<Scope>(ROLE_SCOPES[claims.role]),
        credential: { kind: 'user', userId: claims.sub, role: claims.role, sessionId: claims.sid, jti: claims.jti, exp: claims.exp },
      };
      return { identity, claims, apiKey: null };
    } catch (err) {
      if (err instanceof LiveError) throw err;
      if (err instanceof DeskflowError && err.code === 'unauthenticated') throw new LiveError(LIVE_CLOSE.unauthenticated, err.message);
      throw err;
    }
  }

  /** Still allowed to listen? (session alive, token not revoked, access unchanged; an API key not revoked) */
  async function stillValid(auth: Authenticated): Promise<boolean> {
    if (auth.apiKey)
      return verifyApiKey(auth.apiKey).then(
        () => true,
        (err) => (err instanceof DeskflowError && err.code === 'unauthenticated' ? false : Promise.reject(err)),
      );
    return sessions.accessAllowed(auth.claims!);
  }

  class Connection {
    auth: Authenticated | null = null;
    sub: Subscription = { queue: {}, tickets: new Set() };
    alive = true;
    /** While a resume replays the stream, live messages wait here (then only those after the replay are sent). */
    private held: LiveBusMessage[] | null = null;
    private lastSent: LiveEventId | null = null;
    private stopListening: (() => void) | null = null;
    private recheckTimer: NodeJS.Timeout | undefined;
    private expiryTimer: NodeJS.Timeout | undefined;
    private closed = false;

    constructor(readonly ws: WebSocket) {}

    send(message: ServerMessage): void {
      if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
      // A client that does not read is closed, never buffered without bound.
      if (this.ws.bufferedAmount > config.LIVE_MAX_BUFFER) this.close(LIVE_CLOSE.slowConsumer, 'slow consumer: the send buffer is full');
      else this.ws.send(JSON.stringify(message));
    }

    close(code: number, reason: string): void {
      if (this.closed) return;
      this.closed = true;
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
      this.recheckTimer = setInterval(() => void this.recheck(), config.LIVE_AUTH_RECHECK);
      this.scheduleExpiry();
      this.held = lastEventId ? [] : null;
      this.stopListening = await fanout.listen(identity.tenantId, (m) => this.deliver(m));
      const exp = auth.claims ? new Date(auth.claims.exp * 1000).toISOString() : null;
      const userId = identity.credential.kind === 'user' ? identity.credential.userId : null;
      this.send({ type: 'ready', user_id: userId, tenant_id: identity.tenantId, heartbeat_ms: config.LIVE_HEARTBEAT, token_expires_at: exp });
      if (lastEventId) await this.resume(lastEventId);
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

    private async recheck(): Promise<void> {
      if (!this.auth || this.closed) return;
      try {
        if (!(await stillValid(this.auth))) this.close(LIVE_CLOSE.revoked, 'the session has ended, the credential was revoked or its access changed');
      } catch (err) {
        log.warn({ err }, 'live credential recheck failed; checked again at the next interval');
      }
    }

    async resume(lastEventId: LiveEventId): Promise<void> {
      const tenantId = this.auth!.identity.tenantId;
      this.held ??= [];
      try {
        const missed = await eventsSince(redis, tenantId, lastEventId, window);
        if (missed === 'gap') {
          this.send({ type: 'resync', reason: 'gap', last_event_id: null });
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
    deliver(message: LiveBusMessage, replaying = false): void {
      if (!this.auth || this.closed) return;
      if (this.held && !replaying) {
        this.held.push(message);
        return;
      }
      if (!mayReceive(this.auth.identity, this.sub, message)) return;
      if (message.kind === 'event') {
        if (this.lastSent && compareLiveIds(message.id, this.lastSent) <= 0) return; // seen in the replay already
        this.lastSent = message.id;
        this.send({ type: 'event', id: message.id, event: message.event });
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
          return this.start(await authenticate(message.token), message.last_event_id);
        case 'renew': {
          const next = await authenticate(message.token);
          const current = this.auth!.identity;
          if (next.identity.tenantId !== current.tenantId || next.identity.actor.id !== current.actor.id || !next.claims)
            throw new DeskflowError('validation_failed', 'renew needs an access token of the same user');
          this.auth = next;
          this.scheduleExpiry();
          return;
        }
        case 'subscribe':
          if (message.queue !== undefined) this.sub.queue = message.queue;
          for (const id of message.tickets ?? []) if (this.sub.tickets.size < 100) this.sub.tickets.add(id);
          return;
        case 'unsubscribe':
          for (const id of message.tickets) this.sub.tickets.delete(id);
          return;
        case 'resume':
          return this.resume(message.last_event_id);
        case 'presence':
        case 'status':
          throw new DeskflowError('validation_failed', 'presence is not available on this node yet');
      }
    }

    dispose(): void {
      this.closed = true;
      clearInterval(this.recheckTimer);
      clearTimeout(this.expiryTimer);
      this.stopListening?.();
      const identity = this.auth?.identity;
      if (identity) {
        const who = `${identity.tenantId}:${identity.actor.type}:${identity.actor.id}`;
        const left = (perUser.get(who) ?? 1) - 1;
        if (left > 0) perUser.set(who, left);
        else perUser.delete(who);
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

  wss.on('connection', (ws: WebSocket, _req: IncomingMessage, preAuth: Authenticated | null) => {
    const conn = new Connection(ws);
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
    ws.on('message', (data: RawData, isBinary: boolean) => {
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
    authenticate(token).then(accept, (err) => {
      if (err instanceof LiveError) return reject(socket, 401, 'Unauthorized', err.message);
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
  server.once('close', () => {
    clearInterval(heartbeat);
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
      await fanout.close();
    },
  };
}
