/**
 * Paced breaches for bench/sla-timers.ts (BENCH_SLA_BREACH_RATE). A ticket's breach is due its policy's target after
 * it was created, so with one breach policy the breaches fire exactly as fast as the machine created the tickets. To
 * fire them at a rate the machine cannot create at, phase A's tickets are spread over `slots` breach policies whose
 * first-reply targets step down by `stepMs` (slot k: firstTargetMs − k·stepMs, matched by the tag `slotTag(k)`), and
 * the i-th ticket is sent with the tag of the slot that makes it due i / rate after the first one. Every due time then
 * lies within ±stepMs/2 (plus that creation's latency) of an even grid at `rate`; the run reports the rate the due
 * times actually had.
 */

export interface BreachPlan {
  /** Breaches due per second. */
  rate: number;
  slots: number;
  stepMs: number;
  /** Slot 0's first-reply target. */
  firstTargetMs: number;
}

/**
 * Enough slots to absorb phase A's expected lag behind the breach grid (with a quarter more for a slower phase A), no
 * finer than `minStepMs` and no more than `maxSlots` (each is a policy created through the API before phase A).
 */
export function planBreachSlots(o: {
  tickets: number;
  rate: number;
  expectedPhaseAS: number;
  firstTargetMs: number;
  minStepMs: number;
  maxSlots: number;
  minTargetMs: number;
}): BreachPlan {
  if (!(o.rate > 0) || !(o.maxSlots >= 1) || !(o.minStepMs >= 1)) throw new Error(`invalid breach plan input ${JSON.stringify(o)}`);
  const lagMs = Math.max(0, o.expectedPhaseAS - o.tickets / o.rate) * 1000 * 1.25;
  const stepMs = Math.max(o.minStepMs, o.maxSlots > 1 ? Math.ceil(lagMs / (o.maxSlots - 1)) : o.minStepMs);
  const slots = Math.min(o.maxSlots, Math.ceil(lagMs / stepMs) + 1);
  const plan = { rate: o.rate, slots, stepMs, firstTargetMs: o.firstTargetMs };
  if (slotTargetMs(plan, slots - 1) < o.minTargetMs) {
    throw new Error(
      `the last breach slot's target would be ${slotTargetMs(plan, slots - 1)} ms (< ${o.minTargetMs}): ` +
        'phase A is expected to lag the breach rate by more than the first target; raise BENCH_SLA_TARGET_FACTOR or lower BENCH_SLA_BREACH_RATE',
    );
  }
  return plan;
}

export const slotTargetMs = (plan: BreachPlan, slot: number): number => plan.firstTargetMs - slot * plan.stepMs;

/**
 * The slot for the i-th ticket (from 0) sent `elapsedMs` after the first: the one whose target brings its due time
 * nearest to first due + i / rate. Clamped: a phase A that lags more than planned makes the last breaches come slower.
 */
export function slotFor(plan: BreachPlan, i: number, elapsedMs: number): number {
  const k = Math.round((elapsedMs - (i * 1000) / plan.rate) / plan.stepMs);
  return Math.min(plan.slots - 1, Math.max(0, k));
}

export const slotTag = (slot: number): string => `bench-breach-slot-${slot}`;
