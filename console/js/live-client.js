/**
 * A client of the live-updates WebSocket (`/api/v1/live`, protocol in domain/live.ts) for the console and for Node:
 * the WebSocket constructor is passed in (the browser's, or the `ws` package's), so nothing here touches `window`.
 *
 * It authenticates with its first message (a browser cannot set headers; the token stays out of URLs and logs),
 * remembers the id of the last event, and after a drop reconnects with exponential backoff and jitter and resumes
 * from that id, so a short outage loses nothing. The subscription and this client's presence are sent again on
 * every connection (the server keeps neither across connections). Credential failures (4001/4003/4004) stop it:
 * trying again with the same credential would be refused again.
 */

/** Mirrors LIVE_CLOSE in domain/live.ts. */
export const LIVE_CLOSE = Object.freeze({
  unauthenticated: 4001,
  tokenExpired: 4002,
  revoked: 4003,
  forbidden: 4004,
  slowConsumer: 4008,
  tooManyConnections: 4029,
  heartbeatTimeout: 4000,
  policy: 1008,
  tooBig: 1009,
  restart: 1012,
});

export const LIVE_PROTOCOL = 'deskflow.v1';

/** Closes after which reconnecting cannot help: the credential itself was refused. */
const FINAL_CLOSES = new Set([LIVE_CLOSE.unauthenticated, LIVE_CLOSE.revoked, LIVE_CLOSE.forbidden]);
/** The client's own close (close()): not a failure. */
const NORMAL_CLOSE = 1000;
const OPEN = 1;

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };
/** Presence lapses on the server unless repeated; this is well inside its TTL. */
const DEFAULT_PRESENCE_REPEAT_MS = 20_000;
/** A renew this long before the access token expires (or at half its remaining life when that is shorter). */
const RENEW_MARGIN_MS = 60_000;

const noop = () => undefined;

export class LiveClient {
  /**
   * @param {import('./live-client').LiveClientOptions} options
   */
  constructor(options) {
    const { url, token, WebSocket, onEvent, onPresence, onResync, onStatus, onAgentStatus, onError, backoff, presenceRepeatMs, random, lastEventId } = options;
    if (!url || typeof token !== 'function' || typeof WebSocket !== 'function') throw new TypeError('LiveClient needs url, token() and WebSocket');
    this.url = url;
    this.tokenOf = token;
    this.WebSocketImpl = WebSocket;
    this.handlers = {
      event: onEvent ?? noop,
      presence: onPresence ?? noop,
      resync: onResync ?? noop,
      status: onStatus ?? noop,
      agentStatus: onAgentStatus ?? noop,
      error: onError ?? noop,
    };
    this.backoff = { ...DEFAULT_BACKOFF, ...backoff };
    this.presenceRepeatMs = presenceRepeatMs ?? DEFAULT_PRESENCE_REPEAT_MS;
    this.random = random ?? Math.random;

    /** @type {string | null} */
    this.lastEventId = lastEventId ?? null;
    /** The queue filter last asked for (undefined: the server's default, everything readable). */
    this.filter = undefined;
    /** Tickets followed whatever the filter. */
    this.tickets = new Set();
    /** ticket id → this client's presence state on it. */
    this.present = new Map();
    /** 'connecting' | 'open' | 'reconnecting' | 'stopped' | 'closed' */
    this.state = 'connecting';
    /** The server's `ready` of the current connection. */
    this.session = null;
    this.attempt = 0;
    this.socket = null;
    this.reconnectTimer = null;
    this.renewTimer = null;
    this.presenceTimer = null;
    this.sentToken = null;
    void this.connect();
  }

  /** Replaces the queue filter (when given) and follows these tickets too (added to those already followed). */
  subscribe(filter, tickets = []) {
    if (filter !== undefined) this.filter = filter;
    for (const id of tickets) this.tickets.add(id);
    const message = { type: 'subscribe' };
    if (filter !== undefined) message.queue = filter;
    if (tickets.length) message.tickets = [...tickets];
    this.sendIfReady(message);
  }

  /** Stops following these tickets (they still arrive when they match the queue filter). */
  unsubscribe(tickets) {
    const known = tickets.filter((id) => this.tickets.delete(id));
    if (known.length) this.sendIfReady({ type: 'unsubscribe', tickets: known });
  }

  /** Says what this user is doing on a ticket (`left` ends it); repeated while it lasts, and after reconnecting. */
  presence(ticketId, state) {
    if (state === 'left') this.present.delete(ticketId);
    else this.present.set(ticketId, state);
    this.sendIfReady({ type: 'presence', ticket_id: ticketId, state });
    this.schedulePresence();
  }

  /** Sends a fresh access token for this connection (the next connection asks `token()` again). */
  renew(token) {
    this.sentToken = token;
    this.sendIfReady({ type: 'renew', token });
  }

  /** Ends the connection for good. */
  close() {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= OPEN) {
      // Say we left rather than let presence lapse with the TTL.
      if (socket.readyState === OPEN) for (const id of this.present.keys()) this.send(socket, { type: 'presence', ticket_id: id, state: 'left' });
      socket.close(NORMAL_CLOSE, 'client closed');
    }
  }

  async connect() {
    if (this.state === 'closed' || this.state === 'stopped') return;
    let token;
    try {
      token = await this.tokenOf();
    } catch (err) {
      this.handlers.error(err);
      return this.scheduleReconnect();
    }
    if (this.state === 'closed') return;
    const socket = new this.WebSocketImpl(this.url, [LIVE_PROTOCOL]);
    this.socket = socket;
    this.sentToken = token;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      const auth = { type: 'auth', token };
      if (this.lastEventId) auth.last_event_id = this.lastEventId;
      this.send(socket, auth);
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      let parsed;
      try {
        parsed = JSON.parse(typeof message.data === 'string' ? message.data : String(message.data));
      } catch (err) {
        return this.handlers.error(err);
      }
      this.receive(parsed);
    };
    // A failed handshake fires error then close; the close decides what happens next.
    socket.onerror = () => undefined;
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.session = null;
      clearTimeout(this.renewTimer);
      this.closed(event.code, event.reason);
    };
  }

  receive(message) {
    switch (message.type) {
      case 'ready':
        this.session = message;
        this.attempt = 0;
        this.setState('open', { ready: message });
        this.restore();
        this.scheduleRenew(message.token_expires_at);
        break;
      case 'event':
        this.lastEventId = message.id;
        this.handlers.event(message.event, message.id);
        break;
      case 'resync':
        // The missed events are gone: the application re-reads over REST and live events carry on from here.
        if (message.last_event_id) this.lastEventId = message.last_event_id;
        this.handlers.resync(message);
        break;
      case 'presence':
        this.handlers.presence(message.ticket_id, message.viewers);
        break;
      case 'agent_status':
        this.handlers.agentStatus(message.user_id, message.status);
        break;
      case 'reconnect':
        // The node is draining: go elsewhere now rather than wait for its close.
        this.reconnectNow();
        break;
      case 'error':
        this.handlers.error(Object.assign(new Error(message.detail || message.title), message));
        break;
      default:
      // A newer server's message: ignored.
    }
  }

  /** After `ready`: the subscription and presence again (a new connection starts with neither). */
  restore() {
    if (this.filter !== undefined || this.tickets.size) {
      const message = { type: 'subscribe' };
      if (this.filter !== undefined) message.queue = this.filter;
      if (this.tickets.size) message.tickets = [...this.tickets].slice(0, 100);
      this.sendIfReady(message);
    }
    for (const [id, state] of this.present) this.sendIfReady({ type: 'presence', ticket_id: id, state });
    this.schedulePresence();
  }

  closed(code, reason) {
    if (this.state === 'closed') return;
    if (FINAL_CLOSES.has(code)) {
      this.clearTimers();
      this.setState('stopped', { code, reason });
      return;
    }
    if (code === LIVE_CLOSE.restart) {
      this.setState('reconnecting', { code, reason, delayMs: 0 });
      void this.connect();
      return;
    }
    this.scheduleReconnect(code, reason);
  }

  reconnectNow() {
    const socket = this.socket;
    this.socket = null; // its close is no longer ours to handle
    this.session = null;
    socket?.close(NORMAL_CLOSE, 'reconnecting');
    clearTimeout(this.reconnectTimer);
    this.setState('reconnecting', { delayMs: 0 });
    void this.connect();
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random, so clients spread out but never hammer. */
  scheduleReconnect(code, reason) {
    if (this.state === 'closed' || this.state === 'stopped') return;
    const step = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delayMs = Math.round(step / 2 + (this.random() * step) / 2);
    this.attempt += 1;
    this.setState('reconnecting', { code, reason, delayMs, attempt: this.attempt });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delayMs);
  }

  /** Before the access token expires: ask for a current one and renew when it is a different one. */
  scheduleRenew(expiresAt) {
    clearTimeout(this.renewTimer);
    if (!expiresAt) return;
    const left = Date.parse(expiresAt) - Date.now();
    const delay = Math.max(1000, left > 2 * RENEW_MARGIN_MS ? left - RENEW_MARGIN_MS : left / 2);
    this.renewTimer = setTimeout(async () => {
      try {
        const token = await this.tokenOf();
        if (token && token !== this.sentToken) this.renew(token);
      } catch (err) {
        this.handlers.error(err);
      }
    }, delay);
  }

  schedulePresence() {
    clearInterval(this.presenceTimer);
    this.presenceTimer = null;
    if (!this.present.size || this.state === 'closed') return;
    this.presenceTimer = setInterval(() => {
      for (const [id, state] of this.present) this.sendIfReady({ type: 'presence', ticket_id: id, state });
    }, this.presenceRepeatMs);
  }

  sendIfReady(message) {
    if (this.socket && this.session) this.send(this.socket, message);
  }

  send(socket, message) {
    if (socket.readyState === OPEN) socket.send(JSON.stringify(message));
  }

  setState(state, detail = {}) {
    this.state = state;
    this.handlers.status(state, detail);
  }

  clearTimers() {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.renewTimer);
    clearInterval(this.presenceTimer);
    this.presenceTimer = null;
  }
}
