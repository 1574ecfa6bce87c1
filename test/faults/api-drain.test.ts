/**
 * Fault: SIGTERM while the API is under load. The node leaves the rotation at once (`/readyz` 503, check
 * `lifecycle`), tells live clients to reconnect elsewhere, finishes what it accepted and exits 0. Every create it
 * acknowledged (201) is a ticket; nothing it answered is lost.
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

jest.setTimeout(90_000);

let stack: TestStack;
let tenant: Tenant;
let api: ApiProcess;

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack, 'Draining');
  api = await startApiProcess();
});
afterAll(async () => {
  await api?.stop();
  await stack?.close();
});

test('SIGTERM under load: /readyz fails at once, accepted creates finish, every acknowledged one is a ticket', async () => {
  // Two live clients: one is told to reconnect elsewhere; the other does not answer the close handshake, which keeps
  // the drain open (bounded, 5 s): the window in which the node still answers, and /readyz must say it is leaving.
  const connect = async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/live`, { headers: { Authorization: tenant.headers.Authorization! } });
    const messages: { type: string; reason?: string }[] = [];
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    return { ws, messages, closed };
  };
  const listening = await connect();
  const stalled = await connect();
  stalled.ws.on('error', () => undefined);

  const acknowledged: string[] = [];
  const refused: string[] = [];
  let exited = false;
  const exit = new Promise<number | null>((resolve) => api.child.once('exit', (code) => resolve(code)));
  void exit.then(() => {
    exited = true;
  });
  let n = 0;
  const client = async () => {
    while (!exited) {
      const subject = `Drain ${n++}`;
      try {
        const res = await http(api, 'POST', '/api/v1/tickets', {
          headers: tenant.headers,
          body: { subject, description: 'Sent while the node stops.', customer_id: tenant.customerId },
        });
        if (res.status === 201) acknowledged.push(res.body.id);
        else refused.push(`${res.status}`);
      } catch (err) {
        refused.push((err as Error).message); // refused connection or socket closed: nothing acknowledged
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const load = Promise.all(Array.from({ length: 4 }, client));
  await new Promise((r) => setTimeout(r, 1500));
  const before = acknowledged.length;
  expect(before).toBeGreaterThan(0);

  (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading: the close frame goes unanswered
  api.child.kill('SIGTERM');
  let readiness: { status: number; body: any } | undefined;
  for (let i = 0; i < 40 && !exited; i++) {
    const r = await http(api, 'GET', '/readyz').catch(() => undefined);
    if (r && r.status === 503) {
      readiness = r;
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  expect(readiness?.body.checks.lifecycle).toMatch(/draining/);

  expect(await exit).toBe(0);
  await load;
  expect(listening.messages.some((m) => m.type === 'reconnect' && m.reason === 'draining')).toBe(true);
  expect(await listening.closed).toBe(1012); // service restart: reconnect (to another node) and resume

  // Every acknowledged create is a ticket, readable through another node.
  expect(acknowledged.length).toBeGreaterThanOrEqual(before);
  for (const id of acknowledged) {
    const res = await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers });
    expect(res.status).toBe(200);
  }
  // The drained node no longer listens.
  const port = Number(new URL(api.url).port) as AddressInfo['port'];
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});
