/** Sign-in with the normal login: email and password, and the tenant when the API asks for it (tenant_required). */
import { h } from '../dom.js';

export function mountLogin(container, { session, showProblem, clearProblem }) {
  const email = h('input', { id: 'login-email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const tenant = h('input', { id: 'login-tenant', name: 'tenant_id', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'tenant id (uuid)' });
  const tenantField = h('div', { class: 'field', hidden: true }, h('label', { for: 'login-tenant' }, 'Tenant'), tenant);
  const submit = h('button', { type: 'submit', class: 'button button-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card login', 'aria-label': 'Sign in', on: { submit: onSubmit } },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Use your Deskflow account. Managing webhooks needs an admin.'),
    h('div', { class: 'field' }, h('label', { for: 'login-email' }, 'Email'), email),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    tenantField,
    submit,
  );

  async function onSubmit(event) {
    event.preventDefault();
    clearProblem();
    submit.disabled = true;
    try {
      await session.login(email.value.trim(), password.value, tenantField.hidden ? undefined : tenant.value.trim());
    } catch (err) {
      if (err.code === 'tenant_required') {
        tenantField.hidden = false;
        tenant.focus();
      }
      showProblem(err);
      submit.disabled = false;
    }
  }

  container.append(form);
  email.focus();
  return () => undefined;
}
