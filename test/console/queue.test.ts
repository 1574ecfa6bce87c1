/**
 * The console's live Queue page (console/js/views/queue.js) in headless Chromium against the real API, its
 * `/api/v1/live` WebSocket, the worker, PostgreSQL, Redis and Temporal: an agent signs in and sees their open tickets;
 * tickets created and changed over REST appear, change and leave without a reload; an SLA breach marks its row; who is
 * viewing a ticket (another user's live client) shows on its row. Nothing is loaded from another origin and the page
 * logs no error. With QUEUE_SCREENSHOT=<file> the page is saved as a PNG (docs/console-queue.png).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { LiveClient } from '../../console/js/live-client.js';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { type Browser, launchChromium } from './browser';

let stack: TestStack;
let acme: Tenant;
let browser: Browser;
let page: Page;
let origin: string;
let viewer: LiveClient | undefined;
const requested: string[] = [];
const navigations: string[] = [];
const consoleErrors: string[] = [];
const pageErrors: string[] = [];

async function createTicket(subject: string, extra: Record<string, unknown> = {}) {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: { ...acme.headers, 'Idempotency-Key': randomUUID() },
    body: { subject, description: 'Opened by the queue test.', customer_id: acme.customerId, assignee_id: acme.agentId, ...extra },
  });
  if (res.status !== 201) throw new Error(`cannot create a ticket: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; version: number };
}

async function patchTicket(id: string, body: Record<string, unknown>) {
  const res = await http(stack, 'PATCH', `/api/v1/tickets/${id}`, { headers: acme.headers, body });
  expect(res.status).toBe(200);
  return res.body;
}

const row = (id: string) => page.locator(`#queue tr[data-id="${id}"]`);

beforeAll(async () => {
  browser = await launchChromium();
  stack = await startStack();
  origin = new URL(stack.url).origin;
  acme = await createTenant(stack, 'Acme');
  // Urgent tickets breach their first reply after 4 s; the others have no target.
  const policy = await http(stack, 'POST', '/api/v1/sla-policies', {
    headers: acme.admin.headers,
    body: { position: 1, name: 'Urgent fast', targets: { urgent: { first_reply: 4 / 60 } } },
  });
  expect(policy.status).toBe(201);

  page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('request', (req) => requested.push(req.url()));
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
});

afterAll(async () => {
  viewer?.close();
  await browser?.close();
  await stack?.close();
});

let existing: { id: string };
let unassigned: { id: string };

it('an agent signs in and lands on the Queue: their open tickets, live', async () => {
  existing = await createTicket('Existing: password reset loop', { priority: 'high' });
  unassigned = await createTicket('Someone else will take it', { assignee_id: null });

  await page.goto(`${stack.url}/console`);
  await page.fill('#login-email', acme.agent.email);
  await page.fill('#login-password', acme.agent.password);
  await page.click('button[type=submit]');
  await row(existing.id).waitFor();
  await page.locator('#live-status[data-status="open"]').waitFor();
  await expect(page.locator('#live-status').textContent()).resolves.toBe('Live');
  await expect(page.locator('#nav .nav-link').allTextContents()).resolves.toEqual(['Queue']);
  await expect(row(existing.id).locator('.subject').textContent()).resolves.toBe('Existing: password reset loop');
  await expect(row(existing.id).textContent()).resolves.toContain('high');
  // Assigned to me only: the unassigned ticket is not in this view.
  await expect(row(unassigned.id).count()).resolves.toBe(0);
});

it('a ticket created over REST appears without a reload; changes update it; solving it removes it', async () => {
  const navigated = navigations.length;
  const ticket = await createTicket('Live: invoice shows the wrong VAT');
  await row(ticket.id).waitFor();
  await expect(row(ticket.id).getAttribute('data-status')).resolves.toBe('new');
  await expect(row(ticket.id).locator('.subject').textContent()).resolves.toBe('Live: invoice shows the wrong VAT');
  // Newest first.
  await expect(page.locator('#queue tbody tr').first().getAttribute('data-id')).resolves.toBe(ticket.id);

  await patchTicket(ticket.id, { status: 'open', priority: 'low' });
  await page.locator(`#queue tr[data-id="${ticket.id}"][data-status="open"]`).waitFor();
  await expect(row(ticket.id).textContent()).resolves.toContain('low');

  await patchTicket(existing.id, { status: 'solved' });
  await row(existing.id).waitFor({ state: 'detached' });
  // Reassigned away from me: it leaves my queue too (the page follows its rows whatever the filter).
  const other = await createTicket('Live: moved to another agent later');
  await row(other.id).waitFor();
  await patchTicket(other.id, { assignee_id: null });
  await row(other.id).waitFor({ state: 'detached' });

  // All of it without loading the page again.
  expect(navigations.length).toBe(navigated);
  await expect(row(ticket.id).count()).resolves.toBe(1);
});

it('an SLA breach marks the row', async () => {
  const urgent = await createTicket('Live: checkout down for all EU customers', { priority: 'urgent' });
  await row(urgent.id).waitFor();
  await page.locator(`#queue tr.breached[data-id="${urgent.id}"]`).waitFor();
  await expect(row(urgent.id).locator('.sla').textContent()).resolves.toBe('SLA breached');

  if (process.env.QUEUE_SCREENSHOT) {
    const file = path.resolve(process.env.QUEUE_SCREENSHOT);
    mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage: true });
  }
});

it('the viewers of a ticket show on its row, and go when they leave', async () => {
  const urgent = { id: (await page.locator('#queue tr.breached').first().getAttribute('data-id'))! };
  // Another user (the admin) opens the ticket in their own live client: the agent's page shows them on its row.
  viewer = new LiveClient({ url: `${stack.url.replace(/^http/, 'ws')}/api/v1/live`, token: () => acme.admin.token, WebSocket });
  viewer.presence(urgent.id, 'viewing');
  await row(urgent.id).locator('.viewer').getByText('Acme admin').waitFor();
  await expect(row(urgent.id).locator('.viewer').textContent()).resolves.toBe('Acme admin · viewing');

  viewer.presence(urgent.id, 'left');
  await row(urgent.id).locator('.viewer').waitFor({ state: 'detached' });
});

it('loaded nothing from another origin and logged no errors', () => {
  expect(requested.filter((url) => !url.startsWith(origin) && !url.startsWith(origin.replace(/^http/, 'ws')))).toEqual([]);
  expect(requested).toContain(`${origin}/console/js/views/queue.js`);
  expect(requested).toContain(`${origin}/console/js/live-client.js`);
  expect(pageErrors).toEqual([]);
  expect(consoleErrors).toEqual([]);
});
