/**
 * The console builds every node with these helpers: text goes in as text nodes (never parsed as HTML), so a
 * hostile value from the API (an endpoint description, a receiver's error) can only ever show as text.
 */

/** Attributes a view may set; handlers go in `on`, never as strings. */
const ATTRIBUTES = new Set([
  'id',
  'class',
  'type',
  'name',
  'value',
  'placeholder',
  'autocomplete',
  'required',
  'disabled',
  'hidden',
  'title',
  'for',
  'role',
  'aria-label',
  'aria-live',
  'aria-pressed',
  'aria-current',
  'aria-selected',
  'href',
  'datetime',
  'scope',
  'colspan',
  'readonly',
  'spellcheck',
  'inputmode',
  'tabindex',
  'data-id',
  'data-status',
  'data-view',
]);

/**
 * h('button', { class: 'button', on: { click } }, 'Retry'): an element with attributes and children.
 * Children: nodes, strings (as text), numbers, null/undefined/false (skipped), arrays of those.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (value === false || value === null || value === undefined) {
      // absent
    } else if (ATTRIBUTES.has(key)) {
      if (key === 'href' && !/^(#|\/|\.\/)/.test(String(value))) throw new Error(`refusing href ${value}`);
      el.setAttribute(key, value === true ? '' : String(value));
    } else {
      throw new Error(`unknown attribute ${key}`);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

/** Local time, `2026-12-02 14:05:09`, with the ISO value for machines; '—' for none. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, text);
}

/** A scrollable table with these column headings and body rows (the console's one table markup). */
export function dataTable(headings, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headings.map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

/** A small coloured label: `kind` picks the colour (ok, warn, bad, info, off). */
export function badge(text, kind) {
  return h('span', { class: `badge badge-${kind}` }, text);
}
