/** The console's shell: sign-in, the menu of views (hash routes: #/webhooks, …), problems and notices. */
import { createSession, Problem } from './api.js';
import { h, replace } from './dom.js';
import { VIEWS } from './views.js';
import { mountLogin } from './views/login.js';

const session = createSession();
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const account = document.getElementById('account');
const problemBox = document.getElementById('problem');
const noticeBox = document.getElementById('notice');
let unmount = null;
let generation = 0;

/** Shows a problem (RFC 9457) as it is: title, detail, the fields at fault, and what support needs to find it. */
function showProblem(err) {
  const p = err instanceof Problem ? err : new Problem({ title: 'Unexpected error', detail: String(err?.message ?? err) });
  const meta = [p.status ? `HTTP ${p.status}` : null, p.code, p.requestId ? `request ${p.requestId}` : null].filter(Boolean).join(' · ');
  replace(
    problemBox,
    h(
      'div',
      { class: 'problem-text' },
      h('strong', { class: 'problem-title' }, p.title),
      p.detail && p.detail !== p.title ? h('span', { class: 'problem-detail' }, p.detail) : null,
      p.errors.length
        ? h(
            'ul',
            { class: 'problem-errors' },
            p.errors.map((e) => h('li', {}, `${e.path}: ${e.message}`)),
          )
        : null,
      p.retryAfter ? h('span', { class: 'problem-detail' }, `Try again in ${p.retryAfter} s.`) : null,
      meta ? h('span', { class: 'problem-meta' }, meta) : null,
    ),
    h('button', { type: 'button', class: 'button button-quiet', 'aria-label': 'Dismiss', on: { click: clearProblem } }, 'Dismiss'),
  );
  problemBox.hidden = false;
}

function clearProblem() {
  problemBox.hidden = true;
  problemBox.replaceChildren();
}

let noticeTimer;
function notify(text) {
  replace(noticeBox, text);
  noticeBox.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    noticeBox.hidden = true;
  }, 6000);
}

const ctx = { session, showProblem, clearProblem, notify };

/** The pages this user's role sees. */
const viewsFor = (role) => VIEWS.filter((v) => !v.roles || v.roles.includes(role));

function currentView(views) {
  const id = location.hash.replace(/^#\/?/, '');
  return views.find((v) => v.id === id) ?? views[0];
}

async function render() {
  const mine = ++generation;
  unmount?.();
  unmount = null;
  main.replaceChildren();
  if (!session.signedIn) {
    nav.hidden = true;
    account.hidden = true;
    unmount = mountLogin(main, ctx);
    return;
  }
  const { email, role } = session.user;
  replace(document.getElementById('account-name'), role ? `${email} (${role})` : email);
  account.hidden = false;
  const views = viewsFor(role);
  const view = currentView(views);
  if (!view) {
    nav.hidden = true;
    main.append(h('section', { class: 'card' }, h('h1', {}, 'Nothing to show'), h('p', {}, `The console has no page for the ${role} role yet.`)));
    return;
  }
  replace(
    nav,
    views.map((v) => h('a', { href: `#/${v.id}`, class: 'nav-link', 'aria-current': v === view ? 'page' : false }, v.title)),
  );
  nav.hidden = false;
  document.title = `${view.title} · Deskflow console`;
  const module = await view.load();
  if (mine !== generation) return; // another render started meanwhile
  unmount = module.mount(main, ctx);
}

session.onChange((reason) => {
  if (reason === 'expired') showProblem(new Problem({ status: 401, title: 'Your session ended', detail: 'Sign in again to continue.' }));
  if (reason === 'signed-in' || reason === 'signed-out') clearProblem();
  void render();
});
document.getElementById('logout').addEventListener('click', () => void session.logout());
window.addEventListener('hashchange', () => {
  clearProblem();
  void render();
});

await session.restore();
await render();
