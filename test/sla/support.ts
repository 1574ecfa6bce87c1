/** Helpers for SLA suites: policies over HTTP, polling the timeline. */
import { http, type Tenant, type TestStack } from '../support/stack';

export async function createPolicy(stack: TestStack, tenant: Tenant, body: Record<string, unknown>) {
  const res = await http(stack, 'POST', '/api/v1/sla-policies', { headers: tenant.admin.headers, body: { position: 1, ...body } });
  if (res.status !== 201) throw new Error(`policy not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; version: number };
}

export async function openTicket(stack: TestStack, tenant: Tenant, extra: Record<string, unknown> = {}) {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 'SLA', description: 'Please help.', customer_id: tenant.customerId, ...extra },
  });
  if (res.status !== 201) throw new Error(`ticket not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export interface TimelineEvent {
  version: number;
  type: string;
  data: Record<string, any>;
  changes: Record<string, { from: unknown; to: unknown }>;
  occurred_at: string;
}

export async function timeline(stack: TestStack, tenant: Tenant, ticketId: string): Promise<TimelineEvent[]> {
  const res = await http(stack, 'GET', `/api/v1/tickets/${ticketId}/events?limit=100`, { headers: tenant.headers });
  return res.body.data;
}

/** Polls until `ok` holds (bounded), returning the last value either way; the caller asserts on it. */
export async function eventually<T>(fn: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const ofType = (events: TimelineEvent[], type: string, metric?: string) =>
  events.filter((e) => e.type === type && (metric === undefined || e.data.metric === metric));
