/**
 * The per-endpoint circuit breaker around every webhook attempt (the dispatcher's first attempts and the
 * backoff workflow's retries alike): `gate` before the request (send, probe, or hold without spending a
 * retry), `observe` after it (trip, close, reopen, disable), and a sweeper (in every worker process) that
 * releases one held delivery as the probe once a cool-down is over and opens the internal incident ticket of an
 * endpoint the breaker disabled.
 *
 * The incident ticket is opened through the ticket workflow like any other ticket, requested by the tenant's
 * system customer ("Deskflow webhooks"), with an id derived from the endpoint and its disable count: a retried
 * or repeated opening (a retried round, sweepers of several workers) joins the same ticket, so there is exactly one.
 */
import { workerMetrics } from './metrics';
import { type Client, WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { SCOPES } from '../domain/auth';
import { type BreakerSettings, gateOf, incidentTicket } from '../domain/circuit-breaker';
import type { Identity } from '../domain/identity';
import { CreateTicketInput } from '../domain/ticket';
import { SYSTEM_ACTOR } from '../domain/ticket-state-machine';
import { publishLiveNotice } from '../platform/live-bus';
import type { Config } from '../platform/config';
import type { FieldCrypto } from '../platform/field-crypto';
import type { Logger } from '../platform/logger';
import { nameBasedUuid } from '../platform/name-uuid';
import { type Poller, poll } from '../platform/poller';
import { customerStore } from '../stores/customers';
import { ticketStore } from '../stores/tickets';
import { type BreakerEvent, webhookBreakerStore } from '../stores/webhook-circuit-breaker';
import type { AttemptContext, AttemptOutcome } from '../stores/webhook-deliveries';
import { TICKET_WORKFLOW_TYPE, type TicketSettings, type TicketWorkflowInput, ticketOpenedUpdate, ticketStartOptions } from '../workflows/ticket-contract';

/** Where incident tickets are opened: the ticket workflows' queue and settings (as the API opens tickets). */
export interface IncidentTickets {
  temporal: Client;
  taskQueue: string;
  settings: TicketSettings;
}

export interface BreakerDeps {
  pool: pg.Pool;
  redis?: Redis;
  crypto: FieldCrypto;
  log?: Logger;
  settings: BreakerSettings;
  /** A probe not answered within this long (its worker died) may be taken over by another delivery. */
  probeLeaseMs: number;
  /** Where the sweeper opens incident tickets (a breaker without it never opens one). */
  incidents?: IncidentTickets;
}

/** The breaker's settings from the configuration (WEBHOOK_BREAKER_*). */
export const breakerSettingsOf = (
  config: Pick<
    Config,
    | 'WEBHOOK_BREAKER_FAILURE_RATE'
    | 'WEBHOOK_BREAKER_MIN_ATTEMPTS'
    | 'WEBHOOK_BREAKER_WINDOW'
    | 'WEBHOOK_BREAKER_COOLDOWN'
    | 'WEBHOOK_BREAKER_MAX_COOLDOWN'
    | 'WEBHOOK_BREAKER_TRIPS_TO_DISABLE'
  >,
): BreakerSettings => ({
  failureRate: config.WEBHOOK_BREAKER_FAILURE_RATE,
  minAttempts: config.WEBHOOK_BREAKER_MIN_ATTEMPTS,
  windowMs: config.WEBHOOK_BREAKER_WINDOW,
  cooldownMs: config.WEBHOOK_BREAKER_COOLDOWN,
  maxCooldownMs: Math.max(config.WEBHOOK_BREAKER_MAX_COOLDOWN, config.WEBHOOK_BREAKER_COOLDOWN),
  tripsToDisable: config.WEBHOOK_BREAKER_TRIPS_TO_DISABLE,
});

/** What `gate` let happen: the request goes out (`send`, or as the endpoint's one `probe`), or the delivery is `held`. */
export type GateResult = 'send' | 'probe' | 'held';

/** The requester of a tenant's incident tickets: one system customer per tenant, created on first need. */
const SYSTEM_CUSTOMER_NAMESPACE = '8d0e6b52-61f4-4c1a-b0a7-2f5d9e3c7a14';
export const webhookSystemCustomerIdOf = (tenantId: string) => nameBasedUuid(SYSTEM_CUSTOMER_NAMESPACE, tenantId);
export const WEBHOOK_SYSTEM_CUSTOMER_NAME = 'Deskflow webhooks';
/** Tag of incident tickets, so a view or rule can route them. */
export const WEBHOOK_INCIDENT_TAG = 'webhook-outage';

const systemIdentity = (tenantId: string): Identity => ({
  tenantId,
  actor: SYSTEM_ACTOR,
  scopes: new Set(SCOPES),
  credential: { kind: 'system' },
});

export function webhookCircuitBreaker(deps: BreakerDeps) {
  const store = webhookBreakerStore(deps.pool, deps.settings);
  const customers = customerStore(deps.pool, deps.crypto);
  const tickets = ticketStore(deps.pool);

  const publish = async (tenantId: string, event: Record<string, unknown>) => {
    if (!deps.redis) return;
    const redis = deps.redis;
    const { type, ...data } = event;
    await publishLiveNotice(redis, tenantId, String(type), data).catch(() => undefined);
  };

  /** Opens the endpoint's pending incident ticket (idempotent), then marks it opened. False when Temporal is not at hand. */
  async function openIncident(tenantId: string, endpointId: string): Promise<boolean> {
    if (!deps.incidents) return false;
    const pending = await store.pendingIncident(tenantId, endpointId);
    if (!pending) return true;
    const who = systemIdentity(tenantId);
    const customer = await customers.create(who, webhookSystemCustomerIdOf(tenantId), {
      name: WEBHOOK_SYSTEM_CUSTOMER_NAME,
      email: null,
      phone: null,
      external_id: null,
    });
    const { subject, description } = incidentTicket(pending.facts);
    const input = CreateTicketInput.parse({ subject, description, customer_id: customer.id, priority: 'high', tags: [WEBHOOK_INCIDENT_TAG] });
    const facts = await tickets.openingFacts(tenantId, input);
    const args: TicketWorkflowInput = {
      open: { tenant_id: tenantId, ticket_id: pending.ticket_id, input, actor: SYSTEM_ACTOR, sla_policy: facts.policy },
      settings: deps.incidents.settings,
    };
    try {
      await deps.incidents.temporal.workflow.executeUpdateWithStart(ticketOpenedUpdate, {
        args: [{ tenant_id: tenantId }],
        startWorkflowOperation: new WithStartWorkflowOperation(TICKET_WORKFLOW_TYPE, ticketStartOptions(deps.incidents.taskQueue, args)),
      });
    } catch (err) {
      // Opened before and closed since: it exists, which is all this step promises.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    await store.incidentOpened(tenantId, endpointId, pending.ticket_id);
    deps.log?.warn({ tenantId, endpointId, ticketId: pending.ticket_id }, 'webhook endpoint disabled by its circuit breaker; incident ticket opened');
    await publish(tenantId, { type: 'webhook.endpoint_incident_opened', endpoint_id: endpointId, ticket_id: pending.ticket_id });
    return true;
  }

  /** After commit: logged, announced on the tenant's live channel (at most once; the audit entry is the record). */
  async function announce({ tenant_id, endpoint_id, outcome }: BreakerEvent): Promise<void> {
    const log = { tenantId: tenant_id, endpointId: endpoint_id, ...outcome };
    workerMetrics.breakerTransition(outcome.kind);
    if (outcome.kind === 'closed') {
      deps.log?.info(log, 'webhook circuit breaker closed');
      await publish(tenant_id, { type: 'webhook.endpoint_circuit_closed', endpoint_id, released: outcome.released });
    } else if (outcome.kind === 'opened') {
      deps.log?.warn(log, 'webhook circuit breaker opened');
      await publish(tenant_id, { type: 'webhook.endpoint_circuit_opened', endpoint_id, trips: outcome.trips, retry_at: outcome.retry_at });
    } else {
      deps.log?.warn(log, 'webhook endpoint disabled by its circuit breaker');
      await publish(tenant_id, {
        type: 'webhook.endpoint_disabled',
        endpoint_id,
        reason: outcome.reason,
        trips: outcome.trips,
        tripped_at: outcome.tripped_at,
        incident_ticket_id: outcome.incident_ticket_id,
      });
      // The ticket is opened by the sweeper (within a round; the endpoint row says it is pending), not here: a slow
      // or unreachable Temporal must never stretch an attempt past its timeout and get it sent again.
    }
  }

  return {
    store,
    openIncident,

    /** Before an attempt. Costs nothing while the breaker is closed (its state came with the context). */
    async gate(ctx: AttemptContext): Promise<GateResult> {
      const view = {
        state: ctx.breaker_state,
        retryAtMs: ctx.breaker_retry_at ? Date.parse(ctx.breaker_retry_at) : null,
        probeDeliveryId: ctx.breaker_probe_delivery_id,
        probeStartedAtMs: ctx.breaker_probe_started_at ? Date.parse(ctx.breaker_probe_started_at) : null,
      };
      const gate = gateOf(view, ctx.id, Date.now(), deps.probeLeaseMs);
      if (gate === 'send') return 'send';
      if (gate === 'probe' && (await store.claimProbe(ctx.tenant_id, ctx.endpoint_id, ctx.id, deps.probeLeaseMs))) return 'probe';
      return (await store.hold(ctx.tenant_id, ctx.endpoint_id, ctx.id)) ? 'held' : 'send';
    },

    /**
     * After a logged attempt. Never throws: the attempt is recorded already, and repeating it (an activity
     * retry) would send again; a lost observation costs one failure count, or a probe whose lease then runs out.
     */
    async observe(ctx: AttemptContext, gate: Exclude<GateResult, 'held'>, outcome: AttemptOutcome): Promise<void> {
      try {
        if (outcome === 'gone') return; // the endpoint is disabled already
        let result: BreakerEvent['outcome'] | null = null;
        if (gate === 'probe') result = await store.afterProbe(ctx.tenant_id, ctx.endpoint_id, ctx.id, outcome === 'delivered');
        else if (outcome === 'failed') result = await store.afterFailure(ctx.tenant_id, ctx.endpoint_id);
        if (result) await announce({ tenant_id: ctx.tenant_id, endpoint_id: ctx.endpoint_id, outcome: result });
      } catch (err) {
        deps.log?.warn({ err, tenantId: ctx.tenant_id, endpointId: ctx.endpoint_id }, 'webhook circuit breaker bookkeeping failed');
      }
    },

    /** Releases probes after cool-downs and opens pending incident tickets, every `intervalMs`, in every worker process. */
    startSweeper(intervalMs: number, log: Logger): Poller {
      return poll(
        intervalMs,
        async (self) => {
          for (const { tenant_id, endpoint_id } of await store.due(deps.probeLeaseMs, 100)) {
            if (self.stopped) return;
            await openIncident(tenant_id, endpoint_id).catch((err) => log.warn({ err, endpointId: endpoint_id }, 'incident ticket not opened; retried'));
            const probe = await store.releaseProbe(tenant_id, endpoint_id, deps.probeLeaseMs);
            if (probe) log.info({ tenantId: tenant_id, endpointId: endpoint_id, deliveryId: probe }, 'webhook circuit breaker probes');
          }
        },
        log,
        'webhook circuit breaker sweeper',
      );
    },
  };
}
export type WebhookCircuitBreaker = ReturnType<typeof webhookCircuitBreaker>;
