/**
 * Queue: the agent's open tickets, kept current by the live-updates WebSocket (issue #11) instead of polling. A
 * created ticket appears, a changed one is updated (or leaves when it no longer belongs: solved, closed, reassigned),
 * an SLA breach marks its row, and each row shows who else has the ticket open. After missed events the server says
 * `resync` and the page re-reads the list over REST.
 *
 * The list is read after the socket is ready, so nothing falls between the read and the first live event; events
 * that arrive while it is being read wait and are applied on top (a row never goes back to an older version).
 */
import { liveUrl } from '../api.js';
import { badge, dataTable, h, replace, time } from '../dom.js';
import { LiveClient } from '../live-client.js';

const OPEN_STATUSES = ['new', 'open', 'pending', 'on_hold'];
const PAGE = 100;
/** The server follows at most this many tickets per subscribe message. */
const FOLLOW_MAX = 100;
const STATUS_KIND = { new: 'info', open: 'ok', pending: 'warn', on_hold: 'off' };
const PRIORITY_KIND = { low: 'off', normal: 'info', high: 'warn', urgent: 'bad' };
const LIVE_LABEL = {
  connecting: ['Connecting…', 'info'],
  open: ['Live', 'ok'],
  reconnecting: ['Reconnecting…', 'warn'],
  stopped: ['Live updates stopped', 'bad'],
  closed: ['Offline', 'off'],
};
const MODES = { mine: 'Assigned to me', all: 'All open' };

/** A metric past its due time in the ticket's current SLA state. */
const breachedInRest = (ticket) => Boolean(ticket.sla?.metrics?.some((m) => m.breached_at && m.status !== 'achieved'));
const warnedInRest = (ticket) => Boolean(ticket.sla?.metrics?.some((m) => m.warned_at && !m.breached_at && m.status === 'running'));

export function mount(container, { session, showProblem, clearProblem }) {
  const me = session.user.id;
  const state = {
    mode: 'mine',
    /** id → { ticket, breached, warned, live } */
    rows: new Map(),
    cursor: null,
    /** id → viewers */
    viewers: new Map(),
    loaded: false,
    /** Events that arrived while the list was being read. */
    pending: [],
    live: 'connecting',
    liveDetail: '',
  };
  let alive = true;
  let loadGeneration = 0;
  let renderQueued = false;
  let firstLoadStarted = false;

  const statusBox = h('span', { id: 'live-status', class: 'live-status' });
  const listBox = h('div', { id: 'queue-list' });
  const modeButtons = Object.entries(MODES).map(([mode, label]) =>
    h(
      'button',
      {
        type: 'button',
        class: 'button',
        'data-view': mode,
        'aria-pressed': mode === state.mode ? 'true' : 'false',
        on: { click: () => switchMode(mode) },
      },
      label,
    ),
  );
  const card = h(
    'section',
    { class: 'card', id: 'queue' },
    h(
      'div',
      { class: 'section-head' },
      h('h2', {}, 'Queue ', statusBox),
      h('div', { class: 'row' }, modeButtons, h('button', { type: 'button', class: 'button', on: { click: () => reload() } }, 'Refresh')),
    ),
    listBox,
  );
  container.append(h('div', { class: 'view view-queue' }, card));

  const filterOf = (mode) => (mode === 'mine' ? { status: OPEN_STATUSES, assignee_id: 'me' } : { status: OPEN_STATUSES });
  const belongs = (ticket) => OPEN_STATUSES.includes(ticket.status) && (state.mode === 'all' || ticket.assignee_id === me);

  const client = new LiveClient({
    url: liveUrl(),
    token: () => session.accessToken(),
    WebSocket: globalThis.WebSocket,
    backoff: { initialMs: 1000, maxMs: 30_000 },
    onEvent: (event) => {
      if (!alive) return;
      if (!state.loaded) state.pending.push(event);
      else apply(event, true);
    },
    onPresence: (ticketId, viewers) => {
      if (!alive) return;
      if (viewers.length) state.viewers.set(ticketId, viewers);
      else state.viewers.delete(ticketId);
      queueRender();
    },
    onResync: () => {
      if (alive) void reload();
    },
    onStatus: (live, detail) => {
      if (!alive) return;
      state.live = live;
      state.liveDetail = live === 'stopped' ? `closed ${detail.code}${detail.reason ? `: ${detail.reason}` : ''}` : '';
      renderStatus();
      // The first read waits for the socket (see above) but not for long: a failing socket still shows the list.
      if (!firstLoadStarted && live !== 'connecting') {
        firstLoadStarted = true;
        void reload();
      }
    },
    onError: (err) => {
      if (alive && err.status) showProblem(err);
    },
  });
  client.subscribe(filterOf(state.mode));

  /** Reads the list over REST (first page), then applies the events that came meanwhile. */
  async function reload(more = false) {
    const mine = ++loadGeneration;
    clearProblem();
    const params = new URLSearchParams({ status: OPEN_STATUSES.join(','), limit: String(PAGE) });
    if (state.mode === 'mine') params.set('assignee_id', me);
    if (more && state.cursor) params.set('cursor', state.cursor);
    if (!more) state.loaded = false;
    let page;
    try {
      page = await session.request('GET', `/api/v1/tickets?${params}`);
    } catch (err) {
      if (alive) showProblem(err);
      return;
    }
    if (!alive || mine !== loadGeneration) return;
    if (!more) state.rows.clear();
    for (const ticket of page.data) {
      state.rows.set(ticket.id, { ticket, breached: breachedInRest(ticket), warned: warnedInRest(ticket), live: false });
    }
    state.cursor = page.has_more ? page.next_cursor : null;
    state.loaded = true;
    const pending = state.pending.splice(0);
    for (const event of pending) apply(event, false);
    follow();
    queueRender();
  }

  /** One live event: the ticket snapshot it carries decides whether the row is added, updated or removed. */
  function apply(event, live) {
    const snapshot = event.data?.ticket;
    if (!snapshot?.id) return; // not a ticket event (e.g. webhook.test)
    const row = state.rows.get(snapshot.id);
    if (row && snapshot.version < row.ticket.version) return; // older than what the page shows
    if (!belongs(snapshot)) {
      state.rows.delete(snapshot.id);
    } else {
      const next = row ?? { ticket: snapshot, breached: false, warned: false, live };
      next.ticket = { ...next.ticket, ...snapshot };
      if (event.type === 'sla.breached') next.breached = true;
      if (event.type === 'sla.warning') next.warned = true;
      if (event.type === 'ticket.created') next.live = live;
      state.rows.set(snapshot.id, next);
    }
    follow();
    queueRender();
  }

  /** Follows the rows on the page, so their changes arrive even when they stop matching the queue filter. */
  function follow() {
    const added = [...state.rows.keys()].slice(0, FOLLOW_MAX).filter((id) => !client.tickets.has(id));
    const gone = [...client.tickets].filter((id) => !state.rows.has(id));
    if (gone.length) client.unsubscribe(gone);
    if (added.length) client.subscribe(undefined, added);
    for (const id of gone) state.viewers.delete(id);
  }

  function switchMode(mode) {
    if (mode === state.mode) return;
    state.mode = mode;
    for (const button of modeButtons) button.setAttribute('aria-pressed', button.getAttribute('data-view') === mode ? 'true' : 'false');
    client.subscribe(filterOf(mode));
    void reload();
  }

  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      if (alive) renderList();
    });
  }

  function renderStatus() {
    const [label, kind] = LIVE_LABEL[state.live] ?? [state.live, 'off'];
    replace(statusBox, badge(label, kind), state.liveDetail ? h('span', { class: 'small muted' }, ` ${state.liveDetail}`) : null);
    statusBox.setAttribute('data-status', state.live);
  }

  function viewersCell(id) {
    const viewers = state.viewers.get(id) ?? [];
    if (!viewers.length) return h('td', { class: 'viewers' }, h('span', { class: 'muted' }, '—'));
    return h(
      'td',
      { class: 'viewers' },
      viewers.map((v) =>
        h('span', { class: `viewer viewer-${v.state}`, title: `${v.state} since ${v.since}` }, v.user_id === me ? 'you' : v.name, ` · ${v.state}`),
      ),
    );
  }

  function assigneeText(ticket) {
    if (!ticket.assignee_id) return h('span', { class: 'muted' }, 'unassigned');
    return ticket.assignee_id === me ? 'you' : h('span', { class: 'muted' }, 'another agent');
  }

  function renderList() {
    if (!state.loaded && state.rows.size === 0) return replace(listBox, h('p', { class: 'muted' }, 'Loading…'));
    const rows = [...state.rows.values()].sort((a, b) => b.ticket.created_at.localeCompare(a.ticket.created_at) || b.ticket.id.localeCompare(a.ticket.id));
    if (rows.length === 0) {
      return replace(
        listBox,
        h('p', { class: 'empty' }, state.mode === 'mine' ? 'No open tickets assigned to you.' : 'No open tickets.', ' New ones appear here as they arrive.'),
      );
    }
    const body = rows.map(({ ticket, breached, warned, live }) =>
      h(
        'tr',
        { 'data-id': ticket.id, 'data-status': ticket.status, class: [breached ? 'breached' : '', live ? 'arrived' : ''].filter(Boolean).join(' ') || null },
        h('td', { class: 'subject-cell' }, h('div', { class: 'subject' }, ticket.subject), h('div', { class: 'small muted url' }, ticket.id)),
        h('td', {}, badge(ticket.status.replace('_', ' '), STATUS_KIND[ticket.status] ?? 'info')),
        h('td', {}, badge(ticket.priority, PRIORITY_KIND[ticket.priority] ?? 'info')),
        h('td', {}, assigneeText(ticket)),
        h('td', { class: 'sla' }, breached ? badge('SLA breached', 'bad') : warned ? badge('at risk', 'warn') : h('span', { class: 'muted' }, '—')),
        viewersCell(ticket.id),
        h('td', {}, time(ticket.updated_at)),
      ),
    );
    // Lit once: a later render (any other change) must not start the animation again.
    for (const r of rows) r.live = false;
    replace(
      listBox,
      dataTable(['Ticket', 'Status', 'Priority', 'Assignee', 'SLA', 'Viewing now', 'Updated'], body),
      state.cursor ? h('button', { type: 'button', class: 'button more', on: { click: () => reload(true) } }, 'Show more tickets') : null,
    );
  }

  renderStatus();
  renderList();

  return () => {
    alive = false;
    client.close();
  };
}
