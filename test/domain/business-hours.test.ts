import fc from 'fast-check';
import { DateTime } from 'luxon';
import { addBusinessTime, businessTimeBetween, Calendar, CalendarInput, holidaysBetween, openIntervals, TWENTY_FOUR_SEVEN } from '../../domain/business-hours';
import { DeskflowError } from '../../domain/errors';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const iso = (ms: number): string => new Date(ms).toISOString();

type Weekly = Calendar['weekly'][number];
type Holiday = Calendar['holidays'][number];

function calendar(time_zone: string, weekly: Weekly[], holidays: Holiday[] = []): Calendar {
  return Calendar.parse({ time_zone, weekly, holidays });
}
const days = (list: number[], start: string, end: string): Weekly[] => list.map((day) => ({ day, start, end }));
const MON_FRI = [1, 2, 3, 4, 5];
const EVERY_DAY = [0, 1, 2, 3, 4, 5, 6];

// -----------------------------------------------------------------------------------------------
// Fixed cases

describe('business hours: Mon–Fri 09:00–17:00 in Europe/Berlin', () => {
  const office = calendar('Europe/Berlin', days(MON_FRI, '09:00', '17:00'));

  it('Friday 16:00 + 2 h is Monday 10:00', () => {
    const due = addBusinessTime(office, at('2026-01-09T16:00:00+01:00'), 2 * HOUR);
    expect(iso(due)).toBe(iso(at('2026-01-12T10:00:00+01:00')));
    expect(businessTimeBetween(office, at('2026-01-09T16:00:00+01:00'), due)).toBe(2 * HOUR);
  });

  it('a request arriving on Saturday counts from Monday 09:00', () => {
    const saturday = at('2026-01-10T12:34:56+01:00');
    expect(iso(addBusinessTime(office, saturday, 0))).toBe(iso(at('2026-01-12T09:00:00+01:00')));
    expect(iso(addBusinessTime(office, saturday, 30 * MIN))).toBe(iso(at('2026-01-12T09:30:00+01:00')));
    expect(businessTimeBetween(office, saturday, at('2026-01-12T09:00:00+01:00'))).toBe(0);
  });

  it('the end of a window is closed for durationMs = 0 but reachable as a deadline', () => {
    expect(iso(addBusinessTime(office, at('2026-01-09T09:00:00+01:00'), 8 * HOUR))).toBe(iso(at('2026-01-09T17:00:00+01:00')));
    expect(iso(addBusinessTime(office, at('2026-01-09T17:00:00+01:00'), 0))).toBe(iso(at('2026-01-12T09:00:00+01:00')));
  });

  it('a holiday Monday pushes the deadline to Tuesday and is reported', () => {
    const withHoliday = calendar('Europe/Berlin', days(MON_FRI, '09:00', '17:00'), [
      { date: '2026-01-12', name: 'Company day' },
      { date: '2026-01-10', name: 'A Saturday: closed anyway' },
    ]);
    const from = at('2026-01-09T16:00:00+01:00');
    const due = addBusinessTime(withHoliday, from, 2 * HOUR);
    expect(iso(due)).toBe(iso(at('2026-01-13T10:00:00+01:00')));
    expect(holidaysBetween(withHoliday, from, due)).toEqual(['2026-01-12']);
    expect(holidaysBetween(office, from, due)).toEqual([]);
    // A holiday whose (would-be) open hours lie outside the range was not skipped.
    expect(holidaysBetween(withHoliday, at('2026-01-12T17:30:00+01:00'), at('2026-01-13T12:00:00+01:00'))).toEqual([]);
    expect(openIntervals(withHoliday, at('2026-01-12T00:00:00+01:00'), at('2026-01-14T00:00:00+01:00'))).toEqual([
      [at('2026-01-13T09:00:00+01:00'), at('2026-01-13T17:00:00+01:00')],
    ]);
  });

  it('a recurring holiday (Dec 25) applies in another year; a one-off one does not', () => {
    const recurring = calendar('Europe/Berlin', days(MON_FRI, '09:00', '17:00'), [{ date: '2025-12-25', name: 'Christmas', recurring: true }]);
    const oneOff = calendar('Europe/Berlin', days(MON_FRI, '09:00', '17:00'), [{ date: '2025-12-25' }]);
    const thursday = at('2026-12-24T16:00:00+01:00'); // Dec 25 2026 is a Friday
    const due = addBusinessTime(recurring, thursday, 2 * HOUR);
    expect(iso(due)).toBe(iso(at('2026-12-28T10:00:00+01:00')));
    expect(holidaysBetween(recurring, thursday, due)).toEqual(['2026-12-25']);
    expect(iso(addBusinessTime(oneOff, thursday, 2 * HOUR))).toBe(iso(at('2026-12-25T10:00:00+01:00')));
    // Dec 25 2027 is a Saturday: no open hours were lost, so it explains nothing.
    expect(holidaysBetween(recurring, at('2027-12-20T00:00:00Z'), at('2028-01-01T00:00:00Z'))).toEqual([]);
    expect(holidaysBetween(recurring, at('2025-12-01T00:00:00Z'), at('2026-01-01T00:00:00Z'))).toEqual(['2025-12-25']);
  });

  it('overlapping and touching weekly windows are merged, also across midnight', () => {
    const split = calendar('UTC', [
      { day: 1, start: '09:00', end: '12:00' },
      { day: 1, start: '11:00', end: '13:00' },
      { day: 1, start: '13:00', end: '14:00' },
      { day: 1, start: '22:00', end: '24:00' },
      { day: 2, start: '00:00', end: '01:00' },
    ]);
    expect(openIntervals(split, at('2026-01-05T00:00:00Z'), at('2026-01-07T00:00:00Z'))).toEqual([
      [at('2026-01-05T09:00:00Z'), at('2026-01-05T14:00:00Z')],
      [at('2026-01-05T22:00:00Z'), at('2026-01-06T01:00:00Z')],
    ]);
    // Clipped to the requested range.
    expect(openIntervals(split, at('2026-01-05T10:00:00Z'), at('2026-01-05T23:00:00Z'))).toEqual([
      [at('2026-01-05T10:00:00Z'), at('2026-01-05T14:00:00Z')],
      [at('2026-01-05T22:00:00Z'), at('2026-01-05T23:00:00Z')],
    ]);
    expect(iso(addBusinessTime(split, at('2026-01-05T23:30:00Z'), HOUR))).toBe(iso(at('2026-01-06T00:30:00Z')));
    expect(businessTimeBetween(split, at('2026-01-05T00:00:00Z'), at('2026-01-12T00:00:00Z'))).toBe(8 * HOUR);
  });

  it('empty or reversed ranges are empty', () => {
    const t = at('2026-01-05T10:00:00+01:00');
    expect(businessTimeBetween(office, t, t)).toBe(0);
    expect(businessTimeBetween(office, t, t - HOUR)).toBe(0);
    expect(openIntervals(office, t, t - HOUR)).toEqual([]);
    expect(holidaysBetween(office, t, t)).toEqual([]);
  });
});

/** Both 2026 DST transitions of two zones; all four fall on a Sunday. */
const TRANSITIONS = [
  // zone, local date of the change, standard offset, summer offset, kind
  { zone: 'America/New_York', date: '2026-03-08', before: '-05:00', after: '-04:00', hours: 23 },
  { zone: 'America/New_York', date: '2026-11-01', before: '-04:00', after: '-05:00', hours: 25 },
  { zone: 'Europe/Berlin', date: '2026-03-29', before: '+01:00', after: '+02:00', hours: 23 },
  { zone: 'Europe/Berlin', date: '2026-10-25', before: '+02:00', after: '+01:00', hours: 25 },
] as const;

function shiftDate(date: string, deltaDays: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + deltaDays * DAY).toISOString().slice(0, 10);
}

describe.each(TRANSITIONS)('DST: $zone on $date', ({ zone, date, before, after, hours }) => {
  const saturday = shiftDate(date, -1);
  const monday = shiftDate(date, 1);

  it(`a 24/7 calendar adds exact real time across the change; the day is ${hours} h long`, () => {
    const always = TWENTY_FOUR_SEVEN(zone);
    const t = at(`${saturday}T22:00:00${before}`);
    expect(addBusinessTime(always, t, 10 * HOUR)).toBe(t + 10 * HOUR);
    expect(businessTimeBetween(always, t, t + 10 * HOUR)).toBe(10 * HOUR);
    const dayStart = at(`${date}T00:00:00${before}`);
    const dayEnd = at(`${monday}T00:00:00${after}`);
    expect(dayEnd - dayStart).toBe(hours * HOUR);
    expect(businessTimeBetween(always, dayStart, dayEnd)).toBe(hours * HOUR);
    const oneDayOnly = calendar(zone, [{ day: 0, start: '00:00', end: '24:00' }]);
    expect(openIntervals(oneDayOnly, dayStart - DAY, dayEnd + DAY)).toEqual([[dayStart, dayEnd]]);
  });

  it('a 09:00–17:00 calendar keeps opening at 09:00 local on both sides (the UTC instant moves by 1 h)', () => {
    const daily = calendar(zone, days(EVERY_DAY, '09:00', '17:00'));
    const intervals = openIntervals(daily, at(`${saturday}T00:00:00Z`), at(`${shiftDate(date, 2)}T00:00:00Z`));
    expect(intervals).toEqual([
      [at(`${saturday}T09:00:00${before}`), at(`${saturday}T17:00:00${before}`)],
      [at(`${date}T09:00:00${after}`), at(`${date}T17:00:00${after}`)],
      [at(`${monday}T09:00:00${after}`), at(`${monday}T17:00:00${after}`)],
    ]);
    const [sat, sun] = intervals;
    const shift = Number(after.slice(0, 3)) - Number(before.slice(0, 3)); // +1 in spring, -1 in autumn
    expect(sun![0] - sat![0]).toBe(DAY - shift * HOUR);
    // Mon–Fri across the DST weekend: Friday 16:00 + 2 h is Monday 10:00 local.
    const office = calendar(zone, days(MON_FRI, '09:00', '17:00'));
    const friday = shiftDate(date, -2);
    expect(iso(addBusinessTime(office, at(`${friday}T16:00:00${before}`), 2 * HOUR))).toBe(iso(at(`${monday}T10:00:00${after}`)));
  });
});

describe('DST: nonexistent and ambiguous local times', () => {
  it('a window starting at 02:30 on the spring-forward day opens at the transition (03:00)', () => {
    const ny = calendar('America/New_York', [{ day: 0, start: '02:30', end: '05:00' }]);
    expect(openIntervals(ny, at('2026-03-07T00:00:00Z'), at('2026-03-10T00:00:00Z'))).toEqual([
      [at('2026-03-08T03:00:00-04:00'), at('2026-03-08T05:00:00-04:00')],
    ]);
    // The Sunday before is an ordinary 2.5 h window.
    expect(businessTimeBetween(ny, at('2026-03-01T00:00:00Z'), at('2026-03-02T00:00:00Z'))).toBe(2.5 * HOUR);
    const berlin = calendar('Europe/Berlin', [{ day: 0, start: '02:30', end: '05:00' }]);
    expect(openIntervals(berlin, at('2026-03-28T00:00:00Z'), at('2026-03-30T00:00:00Z'))).toEqual([[at('2026-03-29T01:00:00Z'), at('2026-03-29T03:00:00Z')]]);
  });

  it('a window wholly inside the skipped hour has no open time that day', () => {
    const ny = calendar('America/New_York', [{ day: 0, start: '02:00', end: '02:45' }]);
    expect(businessTimeBetween(ny, at('2026-03-07T00:00:00Z'), at('2026-03-10T00:00:00Z'))).toBe(0);
    expect(iso(addBusinessTime(ny, at('2026-03-07T00:00:00Z'), 0))).toBe(iso(at('2026-03-15T02:00:00-04:00')));
  });

  it('ambiguous (repeated) times resolve to the earlier instant, the pre-transition offset', () => {
    const ny = calendar('America/New_York', [
      { day: 0, start: '01:00', end: '01:30' },
      { day: 0, start: '03:00', end: '04:00' },
    ]);
    expect(openIntervals(ny, at('2026-10-31T00:00:00Z'), at('2026-11-02T00:00:00Z'))).toEqual([
      [at('2026-11-01T01:00:00-04:00'), at('2026-11-01T01:30:00-04:00')],
      [at('2026-11-01T03:00:00-05:00'), at('2026-11-01T04:00:00-05:00')],
    ]);
    // A window that starts in the repeated hour and ends after it includes the repeat.
    const night = calendar('America/New_York', [{ day: 0, start: '01:30', end: '02:00' }]);
    expect(openIntervals(night, at('2026-10-31T00:00:00Z'), at('2026-11-02T00:00:00Z'))).toEqual([
      [at('2026-11-01T01:30:00-04:00'), at('2026-11-01T02:00:00-05:00')],
    ]);
  });
});

describe('business hours: calendars without open time', () => {
  const from = at('2026-01-05T00:00:00Z');

  it('an empty weekly schedule throws', () => {
    const closed = calendar('Europe/Berlin', []);
    expect(() => addBusinessTime(closed, from, HOUR)).toThrow(DeskflowError);
    expect(() => addBusinessTime(closed, from, 0)).toThrow(/no open time/);
    expect(businessTimeBetween(closed, from, from + 30 * DAY)).toBe(0);
    expect(openIntervals(closed, from, from + 30 * DAY)).toEqual([]);
  });

  it('every day a holiday throws, without scanning forever', () => {
    const allYear: Holiday[] = [];
    for (let d = Date.UTC(2024, 0, 1); d < Date.UTC(2025, 0, 1); d += DAY) {
      allYear.push({ date: new Date(d).toISOString().slice(0, 10), recurring: true });
    }
    expect(allYear).toHaveLength(366);
    const never = Calendar.parse({ ...TWENTY_FOUR_SEVEN('Asia/Kolkata'), holidays: allYear });
    expect(() => addBusinessTime(never, from, 0)).toThrow(DeskflowError);
    // Mondays only, and the next few years of Mondays are one-off holidays: gives up after ~3 years.
    const mondays: Holiday[] = [];
    for (let d = at('2026-01-05T00:00:00Z'); mondays.length < 200; d += 7 * DAY) {
      mondays.push({ date: new Date(d).toISOString().slice(0, 10) });
    }
    const gone = calendar('UTC', [{ day: 1, start: '09:00', end: '10:00' }], mondays);
    expect(() => addBusinessTime(gone, from, HOUR)).toThrow(/not reached within/);
    expect(holidaysBetween(gone, from, from + 14 * DAY)).toEqual(['2026-01-05', '2026-01-12']);
  });

  it('rejects a negative or non-finite duration', () => {
    const always = TWENTY_FOUR_SEVEN();
    expect(() => addBusinessTime(always, from, -1)).toThrow(DeskflowError);
    expect(() => addBusinessTime(always, from, Number.NaN)).toThrow(DeskflowError);
    expect(() => businessTimeBetween(always, Number.POSITIVE_INFINITY, from)).toThrow(DeskflowError);
  });
});

describe('business hours: schemas', () => {
  const ok = { time_zone: 'Europe/Berlin', weekly: [{ day: 1, start: '09:00', end: '17:00' }], holidays: [] };

  it('accepts valid calendars, including 24:00 and recurring holidays', () => {
    expect(Calendar.safeParse(ok).success).toBe(true);
    expect(
      Calendar.safeParse({
        time_zone: 'Australia/Sydney',
        weekly: [{ day: 0, start: '00:00', end: '24:00' }],
        holidays: [{ date: '2028-02-29', name: 'Leap day', recurring: true }],
      }).success,
    ).toBe(true);
    expect(TWENTY_FOUR_SEVEN().weekly).toHaveLength(7);
    expect(() => TWENTY_FOUR_SEVEN('Not/AZone')).toThrow();
  });

  it.each(['Mars/Olympus_Mons', 'Europe/Berln', '', '+05:00', 'CET+1'])('rejects time zone %j', (time_zone) => {
    expect(Calendar.safeParse({ ...ok, time_zone }).success).toBe(false);
  });

  it.each([
    ['end equal to start', { day: 1, start: '10:00', end: '10:00' }],
    ['end before start', { day: 1, start: '17:00', end: '09:00' }],
    ['start 24:00', { day: 1, start: '24:00', end: '24:00' }],
    ['end after 24:00', { day: 1, start: '09:00', end: '24:30' }],
    ['unpadded hour', { day: 1, start: '9:00', end: '17:00' }],
    ['day 7', { day: 7, start: '09:00', end: '17:00' }],
    ['fractional day', { day: 1.5, start: '09:00', end: '17:00' }],
  ])('rejects a weekly window with %s', (_label, window) => {
    expect(Calendar.safeParse({ ...ok, weekly: [window] }).success).toBe(false);
  });

  it.each(['2026-02-30', '2026-13-01', '2026-1-5', '2027-02-29', 'tomorrow'])('rejects holiday date %j', (date) => {
    expect(Calendar.safeParse({ ...ok, holidays: [{ date }] }).success).toBe(false);
  });

  it('CalendarInput: name 1..100, at most 50 windows and 366 holidays, no unknown fields', () => {
    const input = { name: 'Support EU', ...ok };
    expect(CalendarInput.safeParse(input).success).toBe(true);
    expect(CalendarInput.safeParse({ ...input, name: ' ' }).success).toBe(false);
    expect(CalendarInput.safeParse({ ...input, name: 'x'.repeat(101) }).success).toBe(false);
    expect(CalendarInput.safeParse({ ...input, tenant_id: 'someone-else' }).success).toBe(false);
    const window = { day: 1, start: '09:00', end: '17:00' };
    expect(CalendarInput.safeParse({ ...input, weekly: Array(50).fill(window) }).success).toBe(true);
    expect(CalendarInput.safeParse({ ...input, weekly: Array(51).fill(window) }).success).toBe(false);
    expect(CalendarInput.safeParse({ ...input, holidays: Array(367).fill({ date: '2026-01-01' }) }).success).toBe(false);
  });
});

// -----------------------------------------------------------------------------------------------
// Properties

const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Sydney',
  'Asia/Kolkata',
  'America/Sao_Paulo',
  'Australia/Lord_Howe', // 30-minute DST shift
];
const FROM = Date.UTC(2025, 0, 1);
const TO = Date.UTC(2028, 0, 1);

const hhmm = (minutes: number): string => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** Window edges: often on the half hour (to hit DST gaps and touching windows), sometimes any minute. */
const edgeMinute = fc.oneof(
  fc.integer({ min: 0, max: 48 }).map((h) => h * 30),
  fc.integer({ min: 0, max: 1440 }),
);
const windowArb: fc.Arbitrary<Weekly> = fc
  .record({ day: fc.integer({ min: 0, max: 6 }), a: edgeMinute, b: edgeMinute })
  .filter(({ a, b }) => a !== b)
  .map(({ day, a, b }) => ({ day, start: hhmm(Math.min(a, b)), end: hhmm(Math.max(a, b)) }));
const holidayArb: fc.Arbitrary<Holiday> = fc
  .record({ day: fc.integer({ min: 0, max: Math.floor((TO - FROM) / DAY) }), recurring: fc.boolean() })
  .map(({ day, recurring }) => ({ date: new Date(FROM + day * DAY).toISOString().slice(0, 10), recurring }));

const calendarArb: fc.Arbitrary<Calendar> = fc
  .oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        time_zone: fc.constantFrom(...ZONES),
        weekly: fc.array(windowArb, { minLength: 1, maxLength: 10 }),
        holidays: fc.array(holidayArb, { maxLength: 6 }),
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom(...ZONES).map((zone) => TWENTY_FOUR_SEVEN(zone)) },
  )
  .map((raw) => Calendar.parse(raw));

const instantArb = fc.oneof(
  fc.integer({ min: FROM, max: TO }),
  fc.integer({ min: FROM / (15 * MIN), max: TO / (15 * MIN) }).map((q) => q * 15 * MIN), // on window edges
);
/**
 * A calendar plus an instant that is half the time random and half the time exactly on the start
 * or end of one of its open windows (where off-by-one mistakes live).
 */
const calendarAndInstantArb: fc.Arbitrary<[Calendar, number]> = fc
  .tuple(calendarArb, instantArb, fc.boolean(), fc.nat(20), fc.boolean())
  .map(([cal, t, snap, k, atEnd]) => {
    if (!snap) return [cal, t];
    const windows = openIntervals(cal, t, t + 8 * DAY);
    const w = windows[k % Math.max(1, windows.length)];
    return [cal, w ? w[atEnd ? 1 : 0] : t];
  });
const durationArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 14 * DAY }), fc.integer({ min: 1, max: 4 * HOUR }));

/** Weekly open time, to keep random durations reachable within the 3-year scan on sparse calendars. */
function weeklyOpenMs(cal: Calendar): number {
  return businessTimeBetween({ ...cal, holidays: [] }, Date.UTC(2026, 0, 5), Date.UTC(2026, 0, 12));
}
function reachable(cal: Calendar, d: number): number {
  const cap = Math.max(1, Math.min(14 * DAY, weeklyOpenMs(cal) * 40));
  return d % (cap + 1);
}

const runs = { numRuns: 300 };

describe('business hours: properties', () => {
  it('businessTimeBetween(t, addBusinessTime(t, d)) === d', () => {
    fc.assert(
      fc.property(calendarAndInstantArb, durationArb, ([cal, t], raw) => {
        const d = reachable(cal, raw);
        const due = addBusinessTime(cal, t, d);
        expect(due).toBeGreaterThanOrEqual(t);
        expect(businessTimeBetween(cal, t, due)).toBe(d);
      }),
      runs,
    );
  });

  it('addBusinessTime is monotonic in the duration', () => {
    fc.assert(
      fc.property(calendarAndInstantArb, durationArb, durationArb, ([cal, t], x, y) => {
        const [a, b] = [reachable(cal, x), reachable(cal, y)].sort((p, q) => p - q) as [number, number];
        expect(addBusinessTime(cal, t, a)).toBeLessThanOrEqual(addBusinessTime(cal, t, b));
      }),
      runs,
    );
  });

  it('the result lies inside (or, for d > 0, at the end of) an open interval; d = 0 skips only closed time', () => {
    fc.assert(
      fc.property(calendarAndInstantArb, durationArb, ([cal, t], raw) => {
        const d = reachable(cal, raw);
        const due = addBusinessTime(cal, t, d);
        const around = openIntervals(cal, due - DAY, due + DAY);
        const inside = around.some(([s, e]) => (d > 0 ? s < due && due <= e : s <= due && due < e));
        expect(inside).toBe(true);
        if (d === 0) expect(businessTimeBetween(cal, t, due)).toBe(0);
      }),
      runs,
    );
  });

  it('a 24/7 calendar adds plain elapsed time in any zone, across DST', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), instantArb, durationArb, (zone, t, d) => {
        const always = TWENTY_FOUR_SEVEN(zone);
        expect(addBusinessTime(always, t, d)).toBe(t + d);
        expect(businessTimeBetween(always, t, t + d)).toBe(d);
      }),
      runs,
    );
    const utc = TWENTY_FOUR_SEVEN();
    fc.assert(
      fc.property(instantArb, durationArb, (t, d) => addBusinessTime(utc, t, d) === t + d),
      runs,
    );
  });

  it('addBusinessTime(t, a + b) === addBusinessTime(addBusinessTime(t, a), b) for b > 0', () => {
    fc.assert(
      fc.property(calendarAndInstantArb, durationArb, durationArb, ([cal, t], x, y) => {
        const a = reachable(cal, x);
        const b = Math.max(1, Math.floor(reachable(cal, y) / 2));
        expect(addBusinessTime(cal, t, a + b)).toBe(addBusinessTime(cal, addBusinessTime(cal, t, a), b));
      }),
      runs,
    );
  });

  it('businessTimeBetween is additive over a split point and agrees with openIntervals', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, instantArb, instantArb, (cal, x, y, z) => {
        const [a, b, c] = [x, y, z].sort((p, q) => p - q) as [number, number, number];
        const c2 = Math.min(c, a + 60 * DAY); // keep ranges bench-sized
        const b2 = Math.min(b, c2);
        expect(businessTimeBetween(cal, a, c2)).toBe(businessTimeBetween(cal, a, b2) + businessTimeBetween(cal, b2, c2));
        const intervals = openIntervals(cal, a, c2);
        expect(intervals.reduce((sum, [s, e]) => sum + (e - s), 0)).toBe(businessTimeBetween(cal, a, c2));
        intervals.forEach(([s, e], i) => {
          expect(s).toBeGreaterThanOrEqual(a);
          expect(e).toBeLessThanOrEqual(c2);
          expect(e).toBeGreaterThan(s);
          if (i > 0) expect(s).toBeGreaterThan(intervals[i - 1]![1]); // sorted, disjoint, merged
        });
      }),
      runs,
    );
  });

  it('an instant is open iff its local wall-clock time is in a weekly window on a non-holiday date (luxon oracle)', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, (cal, t) => {
        const local = DateTime.fromMillis(t, { zone: cal.time_zone });
        // Repeated wall times (fall back) count only on their first occurrence: skip them here.
        fc.pre(local.getPossibleOffsets().length === 1);
        const date = local.toISODate()!;
        const holiday = cal.holidays.some((h) => h.date === date || (h.recurring && h.date.slice(5) === date.slice(5)));
        const minute = local.hour * 60 + local.minute + local.second / 60 + local.millisecond / 60_000;
        const day = local.weekday % 7;
        const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
        const expected = !holiday && cal.weekly.some((w) => w.day === day && toMin(w.start) <= minute && minute < toMin(w.end));
        expect(businessTimeBetween(cal, t, t + 1) === 1).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
