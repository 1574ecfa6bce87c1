/**
 * The per-endpoint webhook circuit breaker's decisions. Pure: the store reads the endpoint's breaker
 * columns and its recent attempt counts, asks here what to do, and writes the answer under the row lock.
 *
 * closed → open:      at least `minAttempts` attempts since the last close within the window, and at least
 *                     `failureRate` of them failed.
 * open → half_open:   once the cool-down is over, one delivery is let through as the probe.
 * half_open → closed: the probe succeeded (the trip count starts again from zero).
 * half_open → open:   the probe failed: another trip, with a cool-down twice as long (capped).
 * any trip → disabled: the `tripsToDisable`-th trip since the last successful close disables the endpoint.
 * Held deliveries spend no retries: an attempt is counted only when a request is made.
 */

export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface BreakerSettings {
  /** Fraction of failed attempts (0–1] that trips the breaker. */
  failureRate: number;
  /** Fewer attempts than this in the window never trip it. */
  minAttempts: number;
  windowMs: number;
  /** The first trip's cool-down; each further trip without a successful close doubles it. */
  cooldownMs: number;
  maxCooldownMs: number;
  /** This many trips without a successful close in between disable the endpoint. */
  tripsToDisable: number;
}

/** What the attempt path knows of an endpoint's breaker (read with the attempt's context, no extra query). */
export interface BreakerView {
  state: BreakerState;
  retryAtMs: number | null;
  probeDeliveryId: string | null;
  probeStartedAtMs: number | null;
}

/**
 * Before an attempt: `send` (closed), `probe` (try to become the one probe: the store's conditional update
 * decides between racing workers) or `hold` (no request, no retry spent).
 */
export type Gate = 'send' | 'probe' | 'hold';

export function gateOf(view: BreakerView, deliveryId: string, nowMs: number, probeLeaseMs: number): Gate {
  if (view.state === 'closed') return 'send';
  if (view.state === 'open') return view.retryAtMs !== null && view.retryAtMs <= nowMs ? 'probe' : 'hold';
  // half_open: this delivery is the probe (released for it), or the probe's worker died and its lease is over.
  if (view.probeDeliveryId === deliveryId) return 'probe';
  if (view.probeStartedAtMs !== null && view.probeStartedAtMs + probeLeaseMs < nowMs) return 'probe';
  return 'hold';
}

/** Attempts since the last close within the window, and how many failed (no 2xx answer). */
export interface AttemptCounts {
  attempts: number;
  failures: number;
}

export function shouldTrip(counts: AttemptCounts, settings: BreakerSettings): boolean {
  return counts.attempts >= settings.minAttempts && counts.attempts > 0 && counts.failures / counts.attempts >= settings.failureRate;
}

/** The cool-down after the `trip`-th trip (1 = the first) since the last successful close. */
export function cooldownAfterTrip(trip: number, settings: BreakerSettings): number {
  return Math.min(settings.cooldownMs * 2 ** Math.min(Math.max(trip - 1, 0), 30), settings.maxCooldownMs);
}

export type TripDecision = { disable: false; trips: number; cooldownMs: number } | { disable: true; trips: number };

/** Another trip, after `tripsBefore` since the last successful close: open again, or disable the endpoint. */
export function trip(tripsBefore: number, settings: BreakerSettings): TripDecision {
  const trips = tripsBefore + 1;
  if (trips >= settings.tripsToDisable) return { disable: true, trips };
  return { disable: false, trips, cooldownMs: cooldownAfterTrip(trips, settings) };
}

/** What an internal incident ticket says about an endpoint its breaker disabled. */
export interface IncidentFacts {
  endpointId: string;
  url: string;
  description: string;
  trippedAt: string[];
  /** Attempts and failures over the window before the last trip. */
  counts: AttemptCounts;
  windowMs: number;
  heldDeliveries: number;
  /** The latest attempts, newest first. */
  recent: { at: string; status: number | null; error: string | null }[];
}

const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

/** The ticket's subject and description: enough for an agent to work the outage without opening the console. */
export function incidentTicket(f: IncidentFacts): { subject: string; description: string } {
  // Agents read tickets, while endpoints are an admin's: no query string (receivers often put a token there).
  const { host, shown } = (() => {
    try {
      const u = new URL(f.url);
      return { host: u.host, shown: `${u.origin}${u.pathname}${u.search ? '?…' : ''}` };
    } catch {
      return { host: 'an endpoint', shown: '(unreadable URL)' };
    }
  })();
  const lines = [
    `Deskflow disabled the webhook endpoint ${shown} after its circuit breaker tripped ${f.trippedAt.length} times without recovering.`,
    '',
    `Endpoint: ${f.endpointId}`,
    `URL: ${shown}`,
    `Description: ${f.description || '(none)'}`,
    `Failures: ${f.counts.failures} of ${f.counts.attempts} attempts in the last ${minutes(f.windowMs)} before the last trip`,
    `Trips: ${f.trippedAt.join(', ')}`,
    `Deliveries held (not lost; they resume when the endpoint is enabled again): ${f.heldDeliveries}`,
    '',
    'Latest attempts:',
    ...f.recent.map((a) => `- ${a.at}: ${a.status === null ? 'no answer' : `HTTP ${a.status}`}${a.error ? ` (${a.error})` : ''}`),
    '',
    'Once the receiver is fixed, enable the endpoint again (PATCH /api/v1/webhook-endpoints/:id {"enabled": true}).',
  ];
  return { subject: `Webhook endpoint disabled: ${host}`.slice(0, 200), description: lines.join('\n').slice(0, 65_536) };
}
