/**
 * Webhooks: the tenant's endpoints, the recent deliveries of the selected one, and the actions an admin needs
 * (send a `webhook.test` event, rotate a secret and show the new one once, retry a dead delivery). Deliveries
 * still in flight are re-read until they settle: every 1.5 s, slowing to every 15 s while nothing changes.
 */
import { badge, dataTable, h, replace, time } from '../dom.js';

const POLL_MIN_MS = 1500;
const POLL_MAX_MS = 15_000;
const PAGE = 25;
const IN_FLIGHT = new Set(['pending', 'retrying']);
const STATUS_KIND = { delivered: 'ok', dead: 'bad', pending: 'info', retrying: 'warn', held: 'off' };

/** The last cell of a row: its buttons, on one line. */
const actionsCell = (...buttons) => h('td', { class: 'actions-cell' }, h('div', { class: 'actions' }, buttons));

/** A fresh Idempotency-Key per action, so a retried request (lost answer) is not done twice. */
const newKey = () => (globalThis.crypto?.randomUUID ? crypto.randomUUID() : undefined);

export function mount(container, { session, showProblem, clearProblem, notify }) {
  const state = {
    endpoints: [],
    endpointsCursor: null,
    selectedId: null,
    deliveries: [],
    deliveriesCursor: null,
    /** The rotation being confirmed: an endpoint id. */
    confirming: null,
    /** The new secret, shown until dismissed: { endpoint, secret }. */
    revealed: null,
    loading: true,
  };
  let pollTimer = null;
  let pollDelay = POLL_MIN_MS;
  let lastSeen = '';
  let alive = true;

  const endpointsBox = h('section', { class: 'card', id: 'endpoints' });
  const secretBox = h('section', { id: 'secret-panel', class: 'card card-warning', hidden: true });
  const deliveriesBox = h('section', { class: 'card', id: 'deliveries' });
  container.append(h('div', { class: 'view view-webhooks' }, endpointsBox, secretBox, deliveriesBox));

  const selected = () => state.endpoints.find((e) => e.id === state.selectedId) ?? null;

  /** Runs an action with its button disabled; a failure is shown as the problem it is. */
  async function act(button, fn) {
    clearProblem();
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (err) {
      if (!alive) return; // signed out meanwhile (the shell said why)
      showProblem(err);
      // The page was out of date (an endpoint disabled or deleted elsewhere): show what is true now.
      if (err.status === 404 || err.status === 409) loadEndpoints().catch(() => undefined);
    } finally {
      if (button?.isConnected) button.disabled = false;
    }
  }

  async function loadEndpoints(more = false) {
    const cursor = more && state.endpointsCursor ? `&cursor=${encodeURIComponent(state.endpointsCursor)}` : '';
    const page = await session.request('GET', `/api/v1/webhook-endpoints?limit=100${cursor}`);
    state.endpoints = more ? [...state.endpoints, ...page.data] : page.data;
    state.endpointsCursor = page.has_more ? page.next_cursor : null;
    if (!selected()) state.selectedId = state.endpoints[0]?.id ?? null;
    state.loading = false;
    renderEndpoints();
    await loadDeliveries();
  }

  /** `polled`: a re-read by the timer (which slows down while nothing changes); anything else is at once and resets it. */
  async function loadDeliveries(more = false, polled = false) {
    clearTimeout(pollTimer);
    const endpoint = selected();
    if (!endpoint) {
      state.deliveries = [];
      state.deliveriesCursor = null;
      return renderDeliveries();
    }
    const cursor = more && state.deliveriesCursor ? `&cursor=${encodeURIComponent(state.deliveriesCursor)}` : '';
    const page = await session.request('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=${PAGE}${cursor}`);
    if (!alive || endpoint.id !== state.selectedId) return;
    // A refresh (and each poll) re-reads the newest page.
    state.deliveries = more ? [...state.deliveries, ...page.data] : page.data;
    state.deliveriesCursor = page.has_more ? page.next_cursor : null;
    const seen = state.deliveries.map((d) => `${d.id}:${d.status}:${d.attempt_count}`).join();
    pollDelay = polled && seen === lastSeen ? Math.min(pollDelay * 2, POLL_MAX_MS) : POLL_MIN_MS;
    lastSeen = seen;
    renderDeliveries();
    schedulePoll();
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    if (!alive || !state.deliveries.some((d) => IN_FLIGHT.has(d.status))) return;
    pollTimer = setTimeout(() => {
      loadDeliveries(false, true).catch((err) => {
        showProblem(err);
        pollDelay = Math.min(pollDelay * 2, POLL_MAX_MS);
        schedulePoll();
      });
    }, pollDelay);
  }

  async function select(endpointId) {
    state.selectedId = endpointId;
    state.deliveries = [];
    state.deliveriesCursor = null;
    renderEndpoints();
    renderDeliveries();
    await loadDeliveries();
  }

  async function sendTest(endpoint) {
    const delivery = await session.request('POST', `/api/v1/webhook-endpoints/${endpoint.id}/test`, { idempotencyKey: newKey() });
    notify(`Test event queued for ${endpoint.url} (${delivery.webhook_id}).`);
    if (state.selectedId !== endpoint.id) await select(endpoint.id);
    else await loadDeliveries();
  }

  async function rotate(endpoint) {
    const result = await session.request('POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { idempotencyKey: newKey() });
    const { secret, ...updated } = result;
    state.endpoints = state.endpoints.map((e) => (e.id === updated.id ? updated : e));
    state.confirming = null;
    state.revealed = { endpoint: updated, secret };
    renderEndpoints();
    renderSecret();
  }

  async function retry(delivery) {
    await session.request('POST', `/api/v1/webhook-deliveries/${delivery.id}/retry`);
    notify(`Delivery ${delivery.webhook_id} queued again.`);
    await loadDeliveries();
  }

  function renderEndpoints() {
    const head = h(
      'div',
      { class: 'section-head' },
      h('h2', {}, 'Webhook endpoints'),
      h('button', { type: 'button', class: 'button', on: { click: (e) => act(e.currentTarget, () => loadEndpoints()) } }, 'Refresh'),
    );
    if (state.loading) return replace(endpointsBox, head, h('p', { class: 'muted' }, 'Loading…'));
    if (state.endpoints.length === 0) {
      return replace(endpointsBox, head, h('p', { class: 'empty' }, 'No endpoints yet. Create one with POST /api/v1/webhook-endpoints.'));
    }
    const rows = state.endpoints.map((endpoint) => {
      const isSelected = endpoint.id === state.selectedId;
      const types = endpoint.event_types.length
        ? endpoint.event_types.map((t) => h('span', { class: 'chip' }, t))
        : h('span', { class: 'muted' }, 'all events');
      return h(
        'tr',
        { class: isSelected ? 'selected' : null, 'data-id': endpoint.id, 'aria-selected': isSelected ? 'true' : 'false' },
        h(
          'td',
          { class: 'endpoint-cell' },
          h('div', { class: 'url' }, endpoint.url),
          endpoint.description ? h('div', { class: 'description' }, endpoint.description) : null,
        ),
        h('td', { class: 'types' }, types),
        h(
          'td',
          {},
          endpoint.enabled ? badge('enabled', 'ok') : badge('disabled', 'off'),
          !endpoint.enabled && endpoint.disabled_reason ? h('div', { class: 'small muted' }, endpoint.disabled_reason) : null,
        ),
        h(
          'td',
          { class: 'secret-cell' },
          endpoint.secret_rotation_due ? badge('rotation due', 'warn') : badge('current', 'ok'),
          h('div', { class: 'small muted' }, 'since ', time(endpoint.secret_created_at)),
        ),
        actionsCell(
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              'aria-pressed': isSelected ? 'true' : 'false',
              on: { click: (e) => act(e.currentTarget, () => select(endpoint.id)) },
            },
            'Deliveries',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              disabled: !endpoint.enabled,
              title: endpoint.enabled ? null : 'Enable the endpoint to test it',
              on: { click: (e) => act(e.currentTarget, () => sendTest(endpoint)) },
            },
            'Send test',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              on: {
                click: () => {
                  state.confirming = endpoint.id;
                  state.revealed = null;
                  renderSecret();
                },
              },
            },
            'Rotate secret',
          ),
        ),
      );
    });
    replace(
      endpointsBox,
      head,
      dataTable(['Endpoint', 'Event types', 'State', 'Secret', ''], rows),
      state.endpointsCursor
        ? h('button', { type: 'button', class: 'button more', on: { click: (e) => act(e.currentTarget, () => loadEndpoints(true)) } }, 'Show more endpoints')
        : null,
    );
  }

  function renderSecret() {
    if (state.revealed) {
      const { endpoint, secret } = state.revealed;
      const code = h('code', { id: 'new-secret', class: 'secret' }, secret);
      replace(
        secretBox,
        h('h2', {}, 'New signing secret'),
        h('p', {}, 'For ', h('span', { class: 'url' }, endpoint.url), '.'),
        h(
          'p',
          { class: 'warning' },
          'Copy it now: it is shown only this once and cannot be read again. The previous secret keeps signing alongside it for the overlap period (24 hours by default), so update your receiver within that time.',
        ),
        code,
        h(
          'div',
          { class: 'row' },
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              on: {
                click: () =>
                  navigator.clipboard.writeText(secret).then(
                    () => notify('Secret copied.'),
                    () => notify('Copying failed: select the secret and copy it.'),
                  ),
              },
            },
            'Copy',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'button button-primary',
              on: {
                click: () => {
                  state.revealed = null; // gone from the page for good
                  renderSecret();
                },
              },
            },
            'I have stored it',
          ),
        ),
      );
      secretBox.hidden = false;
      return;
    }
    const endpoint = state.endpoints.find((e) => e.id === state.confirming);
    if (endpoint) {
      replace(
        secretBox,
        h('h2', {}, 'Rotate the signing secret?'),
        h(
          'p',
          {},
          'A new secret is issued for ',
          h('span', { class: 'url' }, endpoint.url),
          ' and shown once. Until the overlap ends every delivery carries two signatures, one per secret.',
        ),
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'button', class: 'button button-primary', on: { click: (e) => act(e.currentTarget, () => rotate(endpoint)) } }, 'Rotate now'),
          h(
            'button',
            {
              type: 'button',
              class: 'button',
              on: {
                click: () => {
                  state.confirming = null;
                  renderSecret();
                },
              },
            },
            'Cancel',
          ),
        ),
      );
      secretBox.hidden = false;
      return;
    }
    secretBox.hidden = true;
    secretBox.replaceChildren();
  }

  function renderDeliveries() {
    const endpoint = selected();
    if (!endpoint) return replace(deliveriesBox, h('h2', {}, 'Deliveries'), h('p', { class: 'empty' }, 'Select an endpoint to see its deliveries.'));
    const head = h(
      'div',
      { class: 'section-head' },
      h('h2', {}, 'Recent deliveries ', h('span', { class: 'muted url' }, endpoint.url)),
      h('button', { type: 'button', class: 'button', on: { click: (e) => act(e.currentTarget, () => loadDeliveries()) } }, 'Refresh'),
    );
    if (state.deliveries.length === 0)
      return replace(deliveriesBox, head, h('p', { class: 'empty' }, 'No deliveries yet. Send a test event to try the endpoint.'));
    const rows = state.deliveries.map((d) =>
      h(
        'tr',
        { 'data-id': d.id, 'data-status': d.status },
        h('td', {}, time(d.created_at)),
        h('td', {}, h('span', { class: 'chip' }, d.event_type)),
        h(
          'td',
          {},
          badge(d.status, STATUS_KIND[d.status] ?? 'info'),
          d.last_error && d.status !== 'delivered' ? h('div', { class: 'small muted error-text' }, d.last_error) : null,
        ),
        h('td', { class: 'num' }, d.last_status ?? h('span', { class: 'muted' }, '—')),
        h('td', { class: 'num' }, String(d.attempt_count)),
        h('td', {}, time(d.next_attempt_at)),
        actionsCell(
          d.status === 'dead' ? h('button', { type: 'button', class: 'button', on: { click: (e) => act(e.currentTarget, () => retry(d)) } }, 'Retry') : null,
        ),
      ),
    );
    replace(
      deliveriesBox,
      head,
      dataTable(['Time', 'Event', 'Status', 'Code', 'Attempts', 'Next attempt', ''], rows),
      state.deliveriesCursor
        ? h('button', { type: 'button', class: 'button more', on: { click: (e) => act(e.currentTarget, () => loadDeliveries(true)) } }, 'Show older deliveries')
        : null,
    );
  }

  renderEndpoints();
  renderDeliveries();
  act(null, () => loadEndpoints());

  return () => {
    alive = false;
    clearTimeout(pollTimer);
  };
}
