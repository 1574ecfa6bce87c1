/** The pacer that keeps background work (archival) to a rate: waits for its slot, never bursts to make up for a slow job. */
import { pacer } from '../../domain/pacing';

function clock(start = 1_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

it('spaces jobs by the interval: the first at once, each next one a full interval after the previous start', () => {
  const c = clock();
  const p = pacer(200, c.now);
  expect(p.delay()).toBe(0);
  c.advance(50); // the first job took 50 ms
  expect(p.delay()).toBe(150);
  c.advance(150 + 10); // waited, then the second job took 10 ms
  expect(p.delay()).toBe(190);
});

it('does not burst after a slow job: the next slot counts from when the job could start', () => {
  const c = clock();
  const p = pacer(200, c.now);
  expect(p.delay()).toBe(0);
  c.advance(1_000); // a slow job: four slots passed
  expect(p.delay()).toBe(0);
  c.advance(20);
  expect(p.delay()).toBe(180); // not 0, 0, 0 to catch up
});

it('an interval of 0 (unpaced) or nonsense never waits', () => {
  const c = clock();
  for (const interval of [0, -5, Number.NaN]) {
    const p = pacer(interval, c.now);
    expect([p.delay(), p.delay(), p.delay()]).toEqual([0, 0, 0]);
  }
});
