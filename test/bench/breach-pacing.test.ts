import { planBreachSlots, slotFor, slotTargetMs } from '../../bench/lib/breach-pacing';

const base = { tickets: 10_000, rate: 40, firstTargetMs: 733_000, minStepMs: 250, maxSlots: 200, minTargetMs: 5_000 };

describe('paced breaches (bench/sla-timers.ts BENCH_SLA_BREACH_RATE)', () => {
  it('sizes the slots to phase A’s expected lag behind the breach grid, with a quarter more', () => {
    // 10,000 at 30/s takes 333 s, at 40/s 250 s: 83 s of lag, 104 s with the margin.
    const plan = planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 30 });
    expect(plan.stepMs).toBe(Math.ceil(((10_000 / 30 - 250) * 1.25 * 1000) / 199));
    expect(plan.slots).toBe(200);
    expect(slotTargetMs(plan, 0)).toBe(733_000);
    expect(slotTargetMs(plan, 199)).toBe(733_000 - 199 * plan.stepMs);
    const small = planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 39 });
    expect(small.stepMs).toBe(250);
    expect(small.slots).toBe(Math.ceil(((10_000 / 39 - 250) * 1250) / 250) + 1);
  });

  it('needs one slot when phase A keeps up with the breach rate', () => {
    expect(planBreachSlots({ ...base, expectedPhaseAS: 200 })).toMatchObject({ slots: 1, stepMs: 250 });
  });

  it('refuses a plan whose last target would fall below the minimum', () => {
    expect(() => planBreachSlots({ ...base, firstTargetMs: 60_000, expectedPhaseAS: 10_000 / 20 })).toThrow(/last breach slot/);
  });

  it('puts every due time within half a step of an even grid at the rate, for a phase A that creates slower', () => {
    const plan = planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 30 });
    const errors: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const sentAt = (i * 1000) / 31; // a little faster than expected: within the plan
      const due = sentAt + slotTargetMs(plan, slotFor(plan, i, sentAt));
      errors.push(due - (plan.firstTargetMs + (i * 1000) / plan.rate));
    }
    expect(Math.max(...errors.map(Math.abs))).toBeLessThanOrEqual(plan.stepMs / 2 + 1e-6);
  });

  it('holds the breaches back to the rate for a phase A that creates faster, with slots of longer targets', () => {
    // Planned for 30/s to 60/s: 10,000 take 167 s at 60/s, 83 s ahead of the grid's 250 s (104 s with the margin).
    const plan = planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 30, fastestPhaseAS: 10_000 / 60 });
    expect(plan.stepMs).toBe(Math.ceil(((10_000 / 30 - 250 + (250 - 10_000 / 60)) * 1.25 * 1000) / 199));
    expect(plan.leadSlots).toBe(Math.ceil(((250 - 10_000 / 60) * 1250) / plan.stepMs));
    expect(slotTargetMs(plan, plan.leadSlots)).toBe(base.firstTargetMs);
    expect(slotTargetMs(plan, 0)).toBe(base.firstTargetMs + plan.leadSlots * plan.stepMs);
    expect(slotFor(plan, 0, 0)).toBe(plan.leadSlots);
    for (const perSecond of [55, 48.7, 41, 31]) {
      const errors: number[] = [];
      for (let i = 0; i < 10_000; i++) {
        const sentAt = (i * 1000) / perSecond;
        const due = sentAt + slotTargetMs(plan, slotFor(plan, i, sentAt));
        errors.push(due - (plan.firstTargetMs + (i * 1000) / plan.rate));
      }
      expect(Math.max(...errors.map(Math.abs))).toBeLessThanOrEqual(plan.stepMs / 2 + 1e-6);
    }
  });

  it('plans no lead for a phase A paced at the breach rate or slower', () => {
    expect(planBreachSlots({ ...base, expectedPhaseAS: 250, fastestPhaseAS: 250 })).toMatchObject({ slots: 1, leadSlots: 0 });
    expect(planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 30 }).leadSlots).toBe(0);
  });

  it('clamps to the last slot when phase A lags more than planned, and to the first when it runs ahead', () => {
    const plan = planBreachSlots({ ...base, expectedPhaseAS: 10_000 / 30 });
    expect(slotFor(plan, 9_999, 10_000_000)).toBe(plan.slots - 1);
    expect(slotFor(plan, 100, 0)).toBe(0);
  });
});
