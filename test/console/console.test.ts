/**
 * The console (/console) in headless Chromium against the real API, worker and loopback receivers: sign-in through
 * the page's form, endpoints created over REST (a hostile description shows as text), a test event sent from the
 * page and received signed, a secret rotated and shown once, a refused action shown as its problem, a dead delivery
 * retried, a reload signed back in by refresh, sign-out. Everything the page loads comes from the API's origin and
 * it logs no error. With CONSOLE_SCREENSHOT=<file> the webhooks page is also saved as a PNG (docs/console-webhooks.png).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually, type Receiver, startReceiver, verifies } from '../webhooks/support';
import { CONSOLE_CSP } from '../../api/console';
import { type Browser, launchChromium } from './browser';

const HOSTILE = '<img src=x onerror=alert(1)>';

let stack: TestStack;
let acme: Tenant;
let browser: Browser;
let page: Page;
let origin: string;
const receivers: Receiver[] = [];
const requested: string[] = [];
const consoleErrors: { text: string; url: string }[] = [];
const pageErrors: string[] = [];
const dialogs: string[] = [];
/** Answers the page is expected to get refused (their "Failed to load resource" console entries are expected). */
const expectedFailures = new Set<string>();

/** Endpoints created over REST: id and the secret from the create answer. */
const endpoints: Record<'main' | 'flaky' | 'billing' | 'legacy', { id: string; secret: string; url: string }> = {} as never;
let flakyFails = true;

async function createEndpoint(body: Record<string, unknown>) {
  const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body });
  if (res.status !== 201) throw new Error(`cannot create an endpoint: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id as string, secret: res.body.secret as string, url: res.body.url as string };
}

const endpointRow = (id: string) => page.locator(`#endpoints tr[data-id="${id}"]`);
const deliveryRow = (id: string, status?: string) => page.locator(`#deliveries tr[data-id="${id}"]${status ? `[data-status="${status}"]` : ''}`);

beforeAll(async () => {
  browser = await launchChromium(); // first: a missing chromium fails here, with its own message
  stack = await startStack();
  origin = new URL(stack.url).origin;
  acme = await createTenant(stack, 'Acme');

  const main = await startReceiver(() => ({ status: 204 }));
  const flaky = await startReceiver(() => (flakyFails ? { status: 500, body: 'receiver down for maintenance' } : { status: 200, body: 'ok' }));
  receivers.push(main, flaky);
  endpoints.billing = await createEndpoint({
    url: 'http://127.0.0.1:9/billing',
    description: 'Billing sync (paused during the migration)',
    event_types: ['ticket.created', 'ticket.closed'],
    enabled: false,
  });
  endpoints.legacy = await createEndpoint({ url: 'http://127.0.0.1:9/legacy', description: 'Legacy CRM bridge', event_types: ['ticket.updated'] });
  // A secret older than the rotation period, as the owner (nothing in the API back-dates a secret).
  await stack.admin.query("UPDATE webhook_endpoints SET secret_created_at = now() - interval '120 days' WHERE id = $1", [endpoints.legacy.id]);
  endpoints.flaky = await createEndpoint({ url: flaky.url, description: 'Analytics warehouse' });
  endpoints.main = await createEndpoint({ url: main.url, description: HOSTILE });
  main.secrets = [endpoints.main.secret];
  flaky.secrets = [endpoints.flaky.secret];

  page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('request', (req) => requested.push(req.url()));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.close();
});

it('signs in through the form and lists the endpoints; a hostile description is text, flags show', async () => {
  await page.goto(`${stack.url}/console`);
  expect(new URL(page.url()).pathname).toBe('/console/');
  await page.fill('#login-email', acme.admin.email);
  await page.fill('#login-password', 'wrong password entirely');
  await page.click('button[type=submit]');
  expectedFailures.add(`${stack.url}/api/v1/auth/login`);
  await page.locator('#problem').getByText('wrong email or password').waitFor();
  await expect(page.locator('#problem .problem-title').textContent()).resolves.toBe('Authentication required');

  await page.fill('#login-password', acme.admin.password);
  await page.click('button[type=submit]');
  await endpointRow(endpoints.main.id).waitFor();
  await expect(page.locator('#problem').isHidden()).resolves.toBe(true);
  await expect(page.locator('#account-name').textContent()).resolves.toBe(`${acme.admin.email} (admin)`);

  // The description arrives as the text it is: no element made of it, no script run.
  await expect(endpointRow(endpoints.main.id).locator('.description').textContent()).resolves.toBe(HOSTILE);
  await expect(page.locator('img').count()).resolves.toBe(0);
  expect(dialogs).toEqual([]);

  await expect(endpointRow(endpoints.main.id).locator('.url').textContent()).resolves.toBe(endpoints.main.url);
  await expect(endpointRow(endpoints.main.id).textContent()).resolves.toContain('all events');
  await expect(endpointRow(endpoints.billing.id).locator('.chip').allTextContents()).resolves.toEqual(['ticket.created', 'ticket.closed']);
  await expect(endpointRow(endpoints.billing.id).textContent()).resolves.toContain('disabled');
  await expect(endpointRow(endpoints.billing.id).getByRole('button', { name: 'Send test' }).isDisabled()).resolves.toBe(true);
  await expect(endpointRow(endpoints.legacy.id).locator('.secret-cell').textContent()).resolves.toContain('rotation due');
  await expect(endpointRow(endpoints.main.id).locator('.secret-cell').textContent()).resolves.not.toContain('rotation due');
});

it('sends a webhook.test event that arrives signed and shows as delivered', async () => {
  const main = receivers[0]!;
  await endpointRow(endpoints.main.id).getByRole('button', { name: 'Deliveries' }).click();
  await page.locator('#deliveries').getByText('No deliveries yet').waitFor();
  await endpointRow(endpoints.main.id).getByRole('button', { name: 'Send test' }).click();

  // The list re-reads itself until the delivery settles.
  const row = page.locator('#deliveries tr[data-status="delivered"]');
  await row.waitFor();
  const deliveryId = await row.getAttribute('data-id');
  await expect(row.textContent()).resolves.toContain('webhook.test');
  await expect(row.locator('td').nth(3).textContent()).resolves.toBe('204');
  await expect(row.locator('td').nth(4).textContent()).resolves.toBe('1');
  await expect(page.locator('#notice').textContent()).resolves.toContain(`msg_${deliveryId}`);

  expect(main.received).toHaveLength(1);
  const got = main.received[0]!;
  expect(got.headers['webhook-id']).toBe(`msg_${deliveryId}`);
  expect(verifies(endpoints.main.secret, got.headers, got.body)).toBe(true);
  expect(JSON.parse(got.body)).toMatchObject({ type: 'webhook.test', data: { endpoint_id: endpoints.main.id, message: expect.any(String) } });
  expect(main.problems).toEqual([]);
});

it('rotates a secret and shows the new one once; both secrets then sign a test', async () => {
  const main = receivers[0]!;
  await endpointRow(endpoints.main.id).getByRole('button', { name: 'Rotate secret' }).click();
  await page.locator('#secret-panel').getByRole('button', { name: 'Rotate now' }).click();
  const secret = (await page.locator('#new-secret').textContent())!;
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  expect(secret).not.toBe(endpoints.main.secret);
  await expect(page.locator('#secret-panel').textContent()).resolves.toContain('shown only this once');

  // Every delivery during the overlap verifies with either secret alone.
  main.secrets = [endpoints.main.secret, secret];
  await endpointRow(endpoints.main.id).getByRole('button', { name: 'Send test' }).click();
  await page.locator('#deliveries tr[data-status="delivered"]').nth(1).waitFor();
  await expect(page.locator('#deliveries tr[data-status="delivered"]').count()).resolves.toBe(2);
  expect(main.received).toHaveLength(2);
  expect(verifies(secret, main.received[1]!.headers, main.received[1]!.body)).toBe(true);
  expect(verifies(endpoints.main.secret, main.received[1]!.headers, main.received[1]!.body)).toBe(true);
  expect(main.problems).toEqual([]);

  await page.locator('#secret-panel').getByRole('button', { name: 'I have stored it' }).click();
  await page.locator('#new-secret').waitFor({ state: 'detached' });
  expect(await page.content()).not.toContain(secret);
  // And the API never shows it again.
  const read = await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoints.main.id}`, { headers: acme.admin.headers });
  expect(JSON.stringify(read.body)).not.toContain(secret.slice('whsec_'.length));
});

it('shows a refused action as its problem (an endpoint disabled since the page loaded)', async () => {
  const patched = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${endpoints.legacy.id}`, { headers: acme.admin.headers, body: { enabled: false } });
  expect(patched.status).toBe(200);
  expectedFailures.add(`${stack.url}/api/v1/webhook-endpoints/${endpoints.legacy.id}/test`);
  await endpointRow(endpoints.legacy.id).getByRole('button', { name: 'Send test' }).click();
  const problem = page.locator('#problem');
  await problem.waitFor();
  await expect(problem.locator('.problem-title').textContent()).resolves.toBe('Conflict with the current state');
  await expect(problem.textContent()).resolves.toContain('the endpoint is disabled (disabled by an admin)');
  await expect(problem.locator('.problem-meta').textContent()).resolves.toMatch(/^HTTP 409 · conflict · request [\w-]+$/);
  // And the page re-reads the endpoints, so it shows what is true now.
  await endpointRow(endpoints.legacy.id).getByText('disabled by an admin').waitFor();
  await expect(endpointRow(endpoints.legacy.id).getByRole('button', { name: 'Send test' }).isDisabled()).resolves.toBe(true);
  await problem.getByRole('button', { name: 'Dismiss' }).click();
  await problem.waitFor({ state: 'hidden' });
});

it('retries a dead delivery from the page; it is delivered with the same webhook-id', async () => {
  const flaky = receivers[1]!;
  // Two tests while the receiver fails: both are dead after their retries.
  const sent = [];
  for (let i = 0; i < 2; i++) {
    const res = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoints.flaky.id}/test`, { headers: acme.admin.headers });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/webhook-deliveries/${res.body.id}`);
    sent.push(res.body.id as string);
  }
  const [first, second] = sent as [string, string];
  const dead = await eventually(
    async () =>
      (await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoints.flaky.id}/deliveries?status=dead`, { headers: acme.admin.headers })).body.data.length,
    (n) => n === 2,
    40_000,
  );
  expect(dead).toBe(2);

  await endpointRow(endpoints.flaky.id).getByRole('button', { name: 'Deliveries' }).click();
  await deliveryRow(first, 'dead').waitFor();
  await expect(deliveryRow(first).textContent()).resolves.toContain('500');
  flakyFails = false;
  await deliveryRow(first).getByRole('button', { name: 'Retry' }).click();
  await deliveryRow(first, 'delivered').waitFor();
  await expect(deliveryRow(second, 'dead').count()).resolves.toBe(1);

  const attempts = flaky.received.filter((r) => r.headers['webhook-id'] === `msg_${first}`);
  expect(attempts.map((a) => a.status)).toEqual([500, 500, 500, 500, 200]);
  expect(flaky.problems).toEqual([]);

  if (process.env.CONSOLE_SCREENSHOT) {
    const file = path.resolve(process.env.CONSOLE_SCREENSHOT);
    mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage: true });
  }
});

it('a reload signs back in with the refresh token; signing out ends the session; an agent lands on the Queue', async () => {
  await page.reload();
  await endpointRow(endpoints.main.id).waitFor();
  const refreshToken = await page.evaluate(() => (globalThis as any).sessionStorage.getItem('deskflow.console.refresh') as string | null);
  expect(refreshToken).toBeTruthy();

  const loggedOut = page.waitForResponse((res) => res.url() === `${stack.url}/api/v1/auth/logout`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#login-email').waitFor();
  await expect(page.evaluate(() => (globalThis as any).sessionStorage.length as number)).resolves.toBe(0);
  expect((await loggedOut).status()).toBe(204);
  // The session is over on the server too: its refresh token is refused.
  const refused = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } });
  expect(refused.status).toBe(401);

  // An agent's only page is the Queue (the webhooks page is for admins): no Webhooks in the menu.
  await page.fill('#login-email', acme.agent.email);
  await page.fill('#login-password', acme.agent.password);
  await page.click('button[type=submit]');
  await page.locator('#queue').waitFor();
  await expect(page.locator('#nav .nav-link').allTextContents()).resolves.toEqual(['Queue']);
  await expect(page.locator('#account-name').textContent()).resolves.toBe(`${acme.agent.email} (agent)`);
});

it('serves its files under the strict CSP, revalidated (no-cache + ETag → 304), with their types', async () => {
  const index = await fetch(`${stack.url}/console/`);
  expect(index.status).toBe(200);
  expect(index.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
  expect(CONSOLE_CSP).not.toMatch(/unsafe-|https?:|\*/);
  expect(index.headers.get('cache-control')).toBe('no-cache');
  expect(index.headers.get('x-content-type-options')).toBe('nosniff');
  expect(index.headers.get('content-type')).toMatch(/^text\/html/);
  const module = await fetch(`${stack.url}/console/js/main.js`);
  expect(module.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
  const etag = module.headers.get('etag')!;
  expect(etag).toBeTruthy();
  // As a browser revalidates (fetch() would add `Cache-Control: no-cache` to a conditional request, which forbids a 304).
  const revalidated = await fetch(`${stack.url}/console/js/main.js`, { headers: { 'If-None-Match': etag, 'Cache-Control': 'max-age=0' } });
  expect(revalidated.status).toBe(304);
  // Nothing outside the folder, and a missing file is the API's usual problem.
  const traversal = await fetch(`${stack.url}/console/..%2fpackage.json`);
  expect(traversal.status).toBe(404);
  expect(await traversal.text()).not.toContain('"devDependencies"');
  const absent = await fetch(`${stack.url}/console/nope.js`);
  expect(absent.status).toBe(404);
  expect(absent.headers.get('content-type')).toMatch(/^application\/problem\+json/);
});

it('loaded nothing from another origin and logged no errors', () => {
  expect(requested.length).toBeGreaterThan(5);
  expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  // Each file the page is made of came from /console/.
  for (const file of ['/console/', '/console/console.css', '/console/js/main.js', '/console/js/views/webhooks.js', '/console/favicon.svg']) {
    expect(requested).toContain(`${origin}${file}`);
  }
  expect(pageErrors).toEqual([]);
  expect(dialogs).toEqual([]);
  // The only errors: Chromium's note of each answer the tests made the API refuse.
  expect(consoleErrors.filter((e) => !(e.text.startsWith('Failed to load resource') && expectedFailures.has(e.url)))).toEqual([]);
});
