/**
 * The race between a redrive and the end of the previous round's backoff workflow. The previous run has
 * dead-lettered the delivery and is finishing (held here in its last activity, as a busy webhook queue or a
 * worker crash would hold it; then that activity's completion is lost, so Temporal runs it again). Meanwhile
 * the delivery is redriven, the run's real dispatcher attempts it, the receiver fails, and the dispatcher hands
 * it over to a backoff workflow. That hand-over must not join the finishing run (which would end without
 * retrying, leaving the delivery `retrying` with no workflow), and the repeated dead-letter activity must not
 * kill the new round.
 */
import { randomUUID } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createWebhookDeliveryActivities } from '../../activities/webhook-delivery';
import { DEFAULT_TEMPORAL_ADDRESS } from '../../platform/config';
import { createFieldCrypto } from '../../platform/field-crypto';
import { preloadModules, workflowsPath } from '../../workers/workflow-bundle';
import {
  WEBHOOK_DELIVERY_WORKFLOW_TYPE,
  type WebhookDeliveryActivities,
  type WebhookDeliveryInput,
  webhookDeliveryStartOptions,
  webhookDeliveryWorkflowId,
} from '../../workflows/webhook-delivery-contract';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { deliveryRow, eventually, type Receiver, seedEndpoint, startReceiver } from './support';

// The previous round runs on this test's own queue, in this process, so the test can hold its last activity.
const queue = `race-webhooks-${randomUUID()}`;
let stack: TestStack;
let acme: Tenant;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let r: Receiver;

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
const committed = gate(); // the previous round's dead letter is committed
const release = gate(); // the test lets that run finish
const staleRepeated = gate(); // the lost completion's repeat has run
let deadLetterCalls = 0;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(stack.config) });
  const real = createWebhookDeliveryActivities({ pool: stack.pool, crypto: createFieldCrypto(stack.config), timeoutMs: 5000 });
  const activities: WebhookDeliveryActivities = {
    ...real,
    async deadLetterWebhookDelivery(input) {
      deadLetterCalls++;
      if (deadLetterCalls === 1) {
        await real.deadLetterWebhookDelivery(input);
        committed.open();
        await release.promise;
        throw new Error('the completion of this activity was lost'); // Temporal runs it again
      }
      try {
        return await real.deadLetterWebhookDelivery(input);
      } finally {
        staleRepeated.open();
      }
    },
  };
  worker = await Worker.create({ connection, taskQueue: queue, workflowsPath, bundlerOptions: { preloadModules }, activities });
  running = worker.run();
}, 120_000);
afterAll(async () => {
  release.open();
  worker?.shutdown();
  await running;
  await connection?.close();
  await r?.close();
  await stack.close();
});

it('a redrive racing the end of the previous round: retried by a workflow of its own, delivered once, not dead-lettered again', async () => {
  let healthy = false;
  r = await startReceiver(() => ({ status: healthy ? 200 : 500 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  r.secrets = [endpoint.secret];
  // A delivery whose first attempt failed and whose backoff workflow (round 0) owns it: no dispatcher takes it.
  const { rows } = await stack.admin.query<{ seq: string }>(
    'INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, \'ticket.updated\', \'{"type":"ticket.updated"}\') RETURNING seq',
    [randomUUID(), acme.id],
  );
  const id = randomUUID();
  await stack.admin.query(
    `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status, attempts, last_status)
     VALUES ($1, $2, $3, $4, 'ticket.updated', 'retrying', 1, 500)`,
    [id, acme.id, endpoint.id, rows[0]!.seq],
  );
  const input: WebhookDeliveryInput = {
    tenant_id: acme.id,
    delivery_id: id,
    first_delay_ms: 100,
    policy: { max_retries: 1, base_delay_ms: 100, max_delay_ms: 1000 },
    round: 0,
  };
  const previous = await stack.temporal.workflow.start(WEBHOOK_DELIVERY_WORKFLOW_TYPE, webhookDeliveryStartOptions(queue, input));
  expect(previous.workflowId).toBe(webhookDeliveryWorkflowId(id));

  // Its last retry failed: dead-lettered, and the run is finishing (held in its last activity).
  await committed.promise;
  expect(await deliveryRow(stack, id)).toMatchObject({ status: 'dead', attempts: 2 });
  expect((await previous.describe()).status.name).toBe('RUNNING');

  // The redrive; the dispatcher's first attempt fails (500) and it hands the delivery over.
  const redriven = await http(stack, 'POST', `/api/v1/webhook-deliveries/${id}/retry`, { headers: acme.admin.headers });
  expect(redriven.status).toBe(202);
  const handedOver = await eventually(
    async () => ({ row: await deliveryRow(stack, id), received: r.received.length }),
    (x) => x.row.status === 'retrying' && x.received >= 2,
  );
  expect(handedOver).toMatchObject({ row: { status: 'retrying', attempts: 1 }, received: 2 });
  // To a workflow of the new round, not the finishing one.
  const next = stack.temporal.workflow.getHandle(webhookDeliveryWorkflowId(id, 1));
  expect((await next.describe()).status.name).toBe('RUNNING');

  // The previous run now finishes; its dead-letter activity runs again (its completion was lost) and must change nothing.
  release.open();
  await staleRepeated.promise;
  expect(await previous.result()).toBe('dead');
  expect((await deliveryRow(stack, id)).status).toBe('retrying');
  healthy = true;

  expect(await next.result()).toBe('delivered');
  expect(await deliveryRow(stack, id)).toMatchObject({ status: 'delivered', last_status: 200 });
  expect(r.received.at(-1)!.status).toBe(200);
  expect(r.received.filter((x) => x.status === 200)).toHaveLength(1);
  expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([`msg_${id}`]));
  expect(r.problems).toEqual([]);
  const dead = await stack.admin.query("SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'webhook_delivery.dead_lettered'", [id]);
  expect(dead.rows[0].n).toBe(1);
}, 90_000);
