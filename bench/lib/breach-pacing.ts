/**
 * Paced breaches for bench/sla-timers.ts (BENCH_SLA_BREACH_RATE). A ticket's breach is due its policy's target after
 * it was created, so with one breach policy the breaches fire exactly as fast as the machine created the tickets. To
 * fire them at another rate, phase A's tickets are spread over `slots` breach policies whose first-reply targets step
 * by `stepMs` (slot k: firstTargetMs − (k − leadSlots)·stepMs, matched by the tag `slotTag(k)`), and the i-th ticket is
 * sent with the tag of the slot that makes it due i / rate after the first one. A phase A that lags the grid (creates
 * slower than the rate) takes the shorter targets after slot `leadSlots`; one that runs ahead of it (creates faster)
 * the longer ones before it, so the breaches are held back to the rate instead of following the creates. Every due
 * time then lies within ±stepMs/2 (plus that creation's latency) of an even grid at `rate`; the run reports the rate
 * the due times actually had.
 */

export interface BreachPlan {
  /** Breaches due per second. */
  rate: number;
  slots: number;
  stepMs: number;
  /** The first-reply target of slot `leadSlots`, the one a ticket sent on the grid takes (the first ticket's). */
  firstTargetMs: number;
  /** Slots with longer targets than firstTargetMs (0…leadSlots − 1), for a phase A that runs ahead of the grid. */
  leadSlots: number;
}

/**
 * Enough slots to absorb phase A's expected lag behind the breach grid and, when it may create faster than the rate
 * (`fastestPhaseAS` below tickets / rate), its lead ahead of it (each with a quarter more for a phase A slower or
 * faster than expected), no finer than `minStepMs` and no more than `maxSlots` (each is a policy created through the
 * API before phase A).
 */
export function planBreachSlots(o: {
  tickets: number;
  rate: number;
  expectedPhaseAS: number;
  /** The shortest phase A to plan for (unset: it never runs ahead of the grid, the plan of a phase A paced at the rate). */
  fastestPhaseAS?: number;
  firstTargetMs: number;
  minStepMs: number;
  maxSlots: number;
  minTargetMs: number;
}): BreachPlan {
  if (!(o.rate > 0) || !(o.maxSlots >= 1) || !(o.minStepMs >= 1)) throw new Error(`invalid breach plan input ${JSON.stringify(o)}`);
  const gridS = o.tickets / o.rate;
  const lagMs = Math.max(0, o.expectedPhaseAS - gridS) * 1000 * 1.25;
  const leadMs = Math.max(0, gridS - (o.fastestPhaseAS ?? gridS)) * 1000 * 1.25;
  const stepMs = Math.max(o.minStepMs, o.maxSlots > 1 ? Math.ceil((lagMs + leadMs) / (o.maxSlots - 1)) : o.minStepMs);
  // The lead's slots first (a phase A running ahead is clamped to slot 0, the longest target), then the lag's.
  const leadSlots = Math.min(o.maxSlots - 1, Math.ceil(leadMs / stepMs));
  const slots = Math.min(o.maxSlots, leadSlots + Math.ceil(lagMs / stepMs) + 1);
  const plan = { rate: o.rate, slots, stepMs, firstTargetMs: o.firstTargetMs, leadSlots };
  if (slotTargetMs(plan, slots - 1) < o.minTargetMs) {
    throw new Error(
      `the last breach slot's target would be ${slotTargetMs(plan, slots - 1)} ms (< ${o.minTargetMs}): ` +
        'phase A is expected to lag the breach rate by more than the first target; raise BENCH_SLA_TARGET_FACTOR or lower BENCH_SLA_BREACH_RATE',
    );
  }
  return plan;
}

export const slotTargetMs = (plan: BreachPlan, slot: number): number => plan.firstTargetMs - (slot - plan.leadSlots) * plan.stepMs;

/**
 * The slot for the i-th ticket (from 0) sent `elapsedMs` after the first: the one whose target brings its due time
 * nearest to first due + i / rate. Clamped: a phase A that lags (or runs ahead) more than planned makes the last
 * breaches come slower (or the first ones faster) than the rate.
 */
export function slotFor(plan: BreachPlan, i: number, elapsedMs: number): number {
  const k = plan.leadSlots + Math.round((elapsedMs - (i * 1000) / plan.rate) / plan.stepMs);
  return Math.min(plan.slots - 1, Math.max(0, k));
}

export const slotTag = (slot: number): string => `bench-breach-slot-${slot}`;
