/** Types of live-client.js (the console's plain ES module), for TypeScript callers such as the tests. */

export declare const LIVE_CLOSE: Readonly<{
  unauthenticated: 4001;
  tokenExpired: 4002;
  revoked: 4003;
  forbidden: 4004;
  slowConsumer: 4008;
  tooManyConnections: 4029;
  heartbeatTimeout: 4000;
  policy: 1008;
  tooBig: 1009;
  restart: 1012;
}>;
export declare const LIVE_PROTOCOL: 'deskflow.v1';

export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'stopped' | 'closed';
export type PresenceState = 'viewing' | 'replying' | 'typing';

export interface LiveEnvelope {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}
export interface Viewer {
  user_id: string;
  name: string;
  state: PresenceState;
  since: string;
}
export interface QueueFilter {
  status?: string[];
  assignee_id?: string;
  group_id?: string;
}
export interface ReadyMessage {
  type: 'ready';
  user_id: string | null;
  tenant_id: string;
  heartbeat_ms: number;
  token_expires_at: string | null;
}
export interface ResyncMessage {
  type: 'resync';
  reason: 'gap' | 'unknown_id';
  last_event_id: string | null;
}
export interface StatusDetail {
  ready?: ReadyMessage;
  code?: number;
  reason?: string;
  delayMs?: number;
  attempt?: number;
}

/** The subset of the WebSocket interface the client uses (the browser's and the `ws` package's both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface LiveClientOptions {
  /** ws(s)://host/api/v1/live */
  url: string;
  /** The current access token (asked again at each connection and before the token expires). */
  token: () => string | Promise<string>;
  WebSocket: new (url: string, protocols?: string | string[]) => any;
  onEvent?: (event: LiveEnvelope, id: string) => void;
  onPresence?: (ticketId: string, viewers: Viewer[]) => void;
  /** Events were missed and are no longer kept: re-read over REST. */
  onResync?: (message: ResyncMessage) => void;
  onStatus?: (state: LiveState, detail: StatusDetail) => void;
  onAgentStatus?: (userId: string, status: 'online' | 'away' | 'offline') => void;
  /** A refused message (`{type:'error'}`), an unreadable frame, or a failing token(). */
  onError?: (error: Error & { status?: number; title?: string; detail?: string }) => void;
  backoff?: { initialMs?: number; maxMs?: number };
  /** How often presence is repeated while it lasts (default 20 s). */
  presenceRepeatMs?: number;
  /** Resume from this event id on the first connection (e.g. kept across a page reload). */
  lastEventId?: string | null;
  /** For the jitter (default Math.random). */
  random?: () => number;
}

export declare class LiveClient {
  constructor(options: LiveClientOptions);
  readonly state: LiveState;
  /** The id of the last event received: what a reconnect resumes from. */
  readonly lastEventId: string | null;
  /** The current connection's `ready`, null between connections. */
  readonly session: ReadyMessage | null;
  /** The tickets followed whatever the queue filter. */
  readonly tickets: ReadonlySet<string>;
  subscribe(filter?: QueueFilter, tickets?: string[]): void;
  unsubscribe(tickets: string[]): void;
  presence(ticketId: string, state: PresenceState | 'left'): void;
  renew(token: string): void;
  close(): void;
}
