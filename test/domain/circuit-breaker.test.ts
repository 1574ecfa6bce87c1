/** The webhook circuit breaker's decisions on their own: when it trips, whom it lets through, how long it waits, when it gives up. */
import { type BreakerSettings, type BreakerView, cooldownAfterTrip, gateOf, incidentTicket, shouldTrip, trip } from '../../domain/circuit-breaker';

const settings: BreakerSettings = { failureRate: 0.7, minAttempts: 10, windowMs: 300_000, cooldownMs: 30_000, maxCooldownMs: 600_000, tripsToDisable: 3 };
const NOW = 1_800_000_000_000;
const LEASE = 40_000;

describe('shouldTrip', () => {
  it('needs at least the minimum number of attempts, however bad they are', () => {
    expect(shouldTrip({ attempts: 9, failures: 9 }, settings)).toBe(false);
    expect(shouldTrip({ attempts: 10, failures: 10 }, settings)).toBe(true);
    expect(shouldTrip({ attempts: 0, failures: 0 }, { ...settings, minAttempts: 0 })).toBe(false);
  });

  it('trips at the failure rate, inclusive', () => {
    expect(shouldTrip({ attempts: 10, failures: 7 }, settings)).toBe(true);
    expect(shouldTrip({ attempts: 10, failures: 6 }, settings)).toBe(false);
    expect(shouldTrip({ attempts: 20, failures: 13 }, settings)).toBe(false); // 65 %
    expect(shouldTrip({ attempts: 20, failures: 14 }, settings)).toBe(true);
  });
});

describe('gateOf', () => {
  const view = (v: Partial<BreakerView>): BreakerView => ({ state: 'closed', retryAtMs: null, probeDeliveryId: null, probeStartedAtMs: null, ...v });

  it('closed sends', () => {
    expect(gateOf(view({}), 'd1', NOW, LEASE)).toBe('send');
  });

  it('open holds until the cool-down is over, then every delivery may try to become the probe', () => {
    expect(gateOf(view({ state: 'open', retryAtMs: NOW + 1 }), 'd1', NOW, LEASE)).toBe('hold');
    expect(gateOf(view({ state: 'open', retryAtMs: NOW }), 'd1', NOW, LEASE)).toBe('probe');
    // Disabled by the breaker: no retry time, nothing probes.
    expect(gateOf(view({ state: 'open', retryAtMs: null }), 'd1', NOW, LEASE)).toBe('hold');
  });

  it('half-open lets only its probe through, or anyone once the probe lease ran out', () => {
    const probing = view({ state: 'half_open', probeDeliveryId: 'd1', probeStartedAtMs: NOW - 1000 });
    expect(gateOf(probing, 'd1', NOW, LEASE)).toBe('probe');
    expect(gateOf(probing, 'd2', NOW, LEASE)).toBe('hold');
    expect(gateOf({ ...probing, probeStartedAtMs: NOW - LEASE - 1 }, 'd2', NOW, LEASE)).toBe('probe');
  });
});

describe('trips and cool-downs', () => {
  it('doubles the cool-down per trip without a successful probe, capped', () => {
    expect([1, 2, 3, 4].map((n) => cooldownAfterTrip(n, settings))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(cooldownAfterTrip(10, settings)).toBe(600_000);
    expect(cooldownAfterTrip(1000, settings)).toBe(600_000);
  });

  it('the third trip in a row disables the endpoint (default); fewer open it again', () => {
    expect(trip(0, settings)).toEqual({ disable: false, trips: 1, cooldownMs: 30_000 });
    expect(trip(1, settings)).toEqual({ disable: false, trips: 2, cooldownMs: 60_000 });
    expect(trip(2, settings)).toEqual({ disable: true, trips: 3 });
    expect(trip(0, { ...settings, tripsToDisable: 1 })).toEqual({ disable: true, trips: 1 });
  });
});

it('the incident ticket names the endpoint, the failures, the last answers and the trips', () => {
  const facts = {
    endpointId: 'e1',
    url: 'https://hooks.example.com/deskflow',
    description: 'ERP sync',
    trippedAt: ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:30.000Z', '2026-01-01T00:01:30.000Z'],
    counts: { attempts: 12, failures: 11 },
    windowMs: 300_000,
    heldDeliveries: 4,
    recent: [
      { at: '2026-01-01T00:01:30.000Z', status: 503, error: null },
      { at: '2026-01-01T00:01:00.000Z', status: null, error: 'connect ECONNREFUSED' },
    ],
  };
  const t = incidentTicket(facts);
  expect(t.subject).toBe('Webhook endpoint disabled: hooks.example.com');
  // A token in the query string stays with the endpoint (admins), not in the ticket (agents).
  const withToken = incidentTicket({ ...facts, url: 'https://hooks.example.com/deskflow?token=s3cret' });
  expect(withToken.description).toContain('https://hooks.example.com/deskflow?…');
  expect(withToken.description).not.toContain('s3cret');
  for (const part of [
    'https://hooks.example.com/deskflow',
    'ERP sync',
    '11 of 12 attempts in the last 5 min',
    'tripped 3 times',
    '2026-01-01T00:00:30.000Z',
    'HTTP 503',
    'no answer (connect ECONNREFUSED)',
    'held (not lost; they resume when the endpoint is enabled again): 4',
  ]) {
    expect(t.description).toContain(part);
  }
});
