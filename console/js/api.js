/**
 * The console's session and its calls to the API. The access token lives in memory only; the refresh token in
 * sessionStorage (this tab only, gone when it closes), so a reload signs back in with /auth/refresh. Every
 * failure becomes a `Problem` (RFC 9457 fields), which the views show as they are.
 */

/** The API's root, relative to this file (/console/js/api.js), so a path prefix added by a proxy is kept. */
const API_ROOT = new URL('../../', import.meta.url);
const REFRESH_KEY = 'deskflow.console.refresh';
const EMAIL_KEY = 'deskflow.console.email';
/** An access token this close to expiring is refreshed before it is handed out (a WebSocket keeps using it). */
const EXPIRY_MARGIN_MS = 60_000;

/** The live-updates WebSocket's URL (ws: or wss: like the page). */
export function liveUrl() {
  const url = new URL('api/v1/live', API_ROOT);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

export class Problem extends Error {
  /** `body`: the problem document, or what stands in for one when the answer was not a problem. */
  constructor(body) {
    super(body.detail || body.title || 'Request failed');
    this.status = body.status ?? 0;
    this.title = body.title ?? 'Request failed';
    this.detail = body.detail ?? '';
    this.code = body.code ?? null;
    this.requestId = body.request_id ?? null;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.retryAfter = body.retry_after ?? null;
  }
}

async function call(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json, application/problem+json', ...headers }, cache: 'no-store', credentials: 'omit' };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(new URL(path.replace(/^\//, ''), API_ROOT), init);
  } catch (err) {
    throw new Problem({ status: 0, title: 'The API cannot be reached', detail: String(err.message || err) });
  }
  const type = res.headers.get('content-type') || '';
  const parsed = type.includes('json') ? await res.json().catch(() => null) : null;
  if (res.ok) return { status: res.status, body: parsed, headers: res.headers };
  if (parsed && typeof parsed === 'object' && parsed.title) throw new Problem(parsed);
  throw new Problem({ status: res.status, title: `HTTP ${res.status}`, detail: res.statusText });
}

/** The payload of a JWT (display only: the API verifies tokens, the page never trusts these claims). */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

export function createSession() {
  let access = null;
  let claims = {};
  let refreshing = null;
  const listeners = new Set();
  const emit = (reason) => {
    for (const listener of listeners) listener(reason);
  };

  const adopt = (pair) => {
    access = pair.access_token;
    claims = claimsOf(access);
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  };
  const forget = () => {
    access = null;
    claims = {};
    sessionStorage.removeItem(REFRESH_KEY);
  };

  /** One refresh at a time: refresh tokens are single-use, and a reused one ends the whole session. */
  const refresh = () => {
    refreshing ??= (async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (!refreshToken) throw new Problem({ status: 401, title: 'Signed out', detail: 'Sign in to continue.' });
      try {
        adopt((await call('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })).body);
      } catch (err) {
        // A refused refresh ends the session; a network failure keeps the token for the next try.
        if (err instanceof Problem && err.status === 401) {
          forget();
          emit('expired');
        }
        throw err;
      }
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  };

  return {
    get signedIn() {
      return access !== null;
    },
    get user() {
      return { id: claims.sub ?? '', email: sessionStorage.getItem(EMAIL_KEY) ?? '', role: claims.role ?? '', tenantId: claims.tid ?? '' };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async login(email, password, tenantId) {
      const body = { email, password };
      if (tenantId) body.tenant_id = tenantId;
      adopt((await call('POST', '/api/v1/auth/login', { body })).body);
      sessionStorage.setItem(EMAIL_KEY, email);
      emit('signed-in');
    },

    /** After a reload: signs in again with the stored refresh token, if any. True when signed in. */
    async restore() {
      if (!sessionStorage.getItem(REFRESH_KEY)) return false;
      try {
        await refresh();
        return true;
      } catch {
        return false;
      }
    },

    async logout() {
      const token = access;
      forget();
      sessionStorage.removeItem(EMAIL_KEY);
      emit('signed-out');
      // Ends the session on the server too; the page has already forgotten its tokens either way.
      if (token) await call('POST', '/api/v1/auth/logout', { token }).catch(() => undefined);
    },

    /**
     * A current access token (e.g. for a WebSocket's first message or its renew), refreshed when there is none or it
     * expires within a minute: a WebSocket cannot answer a 401 by refreshing, it is closed at the token's expiry.
     */
    async accessToken() {
      const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
      if (!access || expiresAt - Date.now() < EXPIRY_MARGIN_MS) await refresh();
      return access;
    },

    /** An authenticated call; an expired access token is refreshed once and the call repeated. */
    async request(method, path, { body, idempotencyKey } = {}) {
      const headers = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
      if (!access) await refresh();
      try {
        return (await call(method, path, { token: access, body, headers })).body;
      } catch (err) {
        if (!(err instanceof Problem) || err.status !== 401) throw err;
        await refresh();
        return (await call(method, path, { token: access, body, headers })).body;
      }
    },
  };
}
