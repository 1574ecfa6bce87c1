import { IANAZone } from 'luxon';
import { z } from 'zod';
import { Text } from './text';
import { DeskflowError } from './errors';

/**
 * Business-hours calendars and the arithmetic SLA deadlines are built on.
 *
 * Pure: shared by the API and by deterministic workflow code, so no clock reads, no I/O, no
 * randomness. Instants are epoch milliseconds; open windows are wall-clock times in the
 * calendar's IANA zone, and business time is *real* elapsed time inside them.
 *
 * DST rules (local wall time -> instant):
 * - Spring forward (nonexistent local times): a time inside the gap maps to the first instant
 *   after it, i.e. the moment of the transition (02:30 on 2026-03-08 New York -> 03:00 EDT).
 *   This deliberately differs from luxon's `fromObject`, which shifts by the gap size (03:30):
 *   ours keeps the mapping monotonic, so a window never inverts and one lying wholly inside
 *   the gap simply vanishes.
 * - Fall back (ambiguous local times): the earlier instant, i.e. the offset in force before the
 *   transition (01:30 on 2026-11-01 New York -> 01:30 EDT = 05:30Z). luxon's `fromObject`
 *   picks the later one; again ours is chosen so the mapping is strictly monotonic.
 * - Hence a 00:00-24:00 window lasts 23 real hours on a spring-forward day and 25 on fall-back,
 *   and "24:00" is the next local day's 00:00.
 *
 * Calendars are treated as immutable values (compiled forms are memoised per object).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** addBusinessTime gives up after this many local days: the calendar has (practically) no open time. */
const MAX_SCAN_DAYS = 3 * 366;

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as Europe/Berlin');
export type TimeZone = z.infer<typeof TimeZone>;

/** One weekly open window. `end` may be "24:00" so a window can run to midnight. */
export const WeeklyInterval = z
  .object({
    day: z.number().int().min(0).max(6), // 0 = Sunday, as in Date#getDay
    start: Text.regex(HHMM, 'HH:MM, 00:00 to 23:59'),
    end: Text.refine((s) => s === '24:00' || HHMM.test(s), 'HH:MM, 00:01 to 24:00'),
  })
  // Zero-padded HH:MM strings compare like the times they denote.
  .refine((w) => w.start < w.end, { message: 'end must be after start', path: ['end'] });
export type WeeklyInterval = z.infer<typeof WeeklyInterval>;

/** A local date on which the calendar is closed all day; `recurring` repeats it every year. */
export const Holiday = z.object({
  date: Text.refine(isValidDate, 'a real calendar date, YYYY-MM-DD'),
  name: Text.trim().min(1).max(100).optional(),
  recurring: z.boolean().optional(),
});
export type Holiday = z.infer<typeof Holiday>;

/**
 * A business-hours calendar. Overlapping or touching weekly windows are allowed (they are
 * merged). A recurring Feb 29 holiday only applies in leap years.
 */
export const Calendar = z.object({
  time_zone: TimeZone,
  weekly: z.array(WeeklyInterval),
  holidays: z.array(Holiday),
});
export type Calendar = z.infer<typeof Calendar>;

/** Body of the admin API's create/replace calendar. `.strict()` so unknown fields are a 400. */
export const CalendarInput = z
  .object({
    name: Text.trim().min(1).max(100),
    time_zone: TimeZone,
    weekly: z.array(WeeklyInterval).max(50),
    holidays: z.array(Holiday).max(366),
  })
  .strict();
export type CalendarInput = z.infer<typeof CalendarInput>;

/** A calendar that is always open (holiday-free), e.g. for urgent-priority SLAs. */
export function TWENTY_FOUR_SEVEN(timeZone = 'UTC'): Calendar {
  return Calendar.parse({
    time_zone: timeZone,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, start: '00:00', end: '24:00' })),
    holidays: [],
  });
}

// ---------------------------------------------------------------------------------------------
// Public functions

/** The calendar's open windows intersecting [fromMs, toMs), in order, merged, holidays removed. */
export function openIntervals(cal: Calendar, fromMs: number, toMs: number): Array<[number, number]> {
  assertInstant(fromMs, 'fromMs');
  assertInstant(toMs, 'toMs');
  const out: Array<[number, number]> = [];
  if (toMs <= fromMs) return out;
  const c = compile(cal);
  const last = lastDay(toMs);
  for (let day = firstDay(fromMs); day <= last; day++) {
    for (const [s, e] of dayWindows(c, day, false)) {
      const start = Math.max(s, fromMs);
      const end = Math.min(e, toMs);
      if (end <= start) continue;
      const prev = out[out.length - 1];
      // Windows that touch across midnight (22:00-24:00 + 00:00-02:00) are one interval.
      if (prev && prev[1] >= start) prev[1] = Math.max(prev[1], end);
      else out.push([start, end]);
    }
  }
  return out;
}

/** Open milliseconds in [fromMs, toMs); 0 if toMs <= fromMs. */
export function businessTimeBetween(cal: Calendar, fromMs: number, toMs: number): number {
  assertInstant(fromMs, 'fromMs');
  assertInstant(toMs, 'toMs');
  if (toMs <= fromMs) return 0;
  const c = compile(cal);
  let total = 0;
  const last = lastDay(toMs);
  for (let day = firstDay(fromMs); day <= last; day++) {
    // A day's windows are disjoint from each other and from other days', so they just add up.
    for (const [s, e] of dayWindows(c, day, false)) {
      const span = Math.min(e, toMs) - Math.max(s, fromMs);
      if (span > 0) total += span;
    }
  }
  return total;
}

/**
 * The instant at which `durationMs` of open time has elapsed, counting from `fromMs` (or from
 * the next opening if `fromMs` is in a closed period). With `durationMs = 0` that is the first
 * open instant at or after `fromMs`; otherwise the result may be the very end of a window.
 * Throws a DeskflowError (`rule_violation`) if the calendar has no open time within ~3 years.
 */
export function addBusinessTime(cal: Calendar, fromMs: number, durationMs: number): number {
  assertInstant(fromMs, 'fromMs');
  if (!Number.isFinite(durationMs) || durationMs < 0) {
    throw new DeskflowError('internal', `addBusinessTime: durationMs must be a finite number >= 0, got ${durationMs}`);
  }
  const c = compile(cal);
  if (!c.everOpen) throw noOpenTime(cal);
  let remaining = durationMs;
  const first = firstDay(fromMs);
  for (let day = first; day <= first + MAX_SCAN_DAYS; day++) {
    for (const [s, e] of dayWindows(c, day, false)) {
      if (e <= fromMs) continue; // [s, e) is half-open: at `e` the window is already closed
      const start = Math.max(s, fromMs);
      const available = e - start;
      if (remaining === 0) return start;
      if (remaining <= available) return start + remaining;
      remaining -= available;
    }
  }
  throw new DeskflowError(
    'rule_violation',
    `business-hours calendar (${cal.time_zone}): ${durationMs} ms of open time not reached within ${MAX_SCAN_DAYS} days`,
  );
}

/**
 * Local dates (YYYY-MM-DD) of the holidays that closed open hours within [fromMs, toMs): a
 * holiday counts only if, had it not been a holiday, that day's open windows would have
 * intersected the range ("explainable deadlines": the holidays a deadline skipped).
 */
export function holidaysBetween(cal: Calendar, fromMs: number, toMs: number): string[] {
  assertInstant(fromMs, 'fromMs');
  assertInstant(toMs, 'toMs');
  const out: string[] = [];
  if (toMs <= fromMs) return out;
  const c = compile(cal);
  if (c.holidayDays.size === 0 && c.recurring.size === 0) return out;
  const last = lastDay(toMs);
  for (let day = firstDay(fromMs); day <= last; day++) {
    if (!isHoliday(c, day)) continue;
    const wouldBeOpen = dayWindows(c, day, true).some(([s, e]) => Math.min(e, toMs) > Math.max(s, fromMs));
    if (wouldBeOpen) out.push(formatDay(day));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compilation: weekly windows as merged minute ranges per weekday, holidays as day-number sets.

interface Compiled {
  zone: IANAZone;
  /** Index 0 = Sunday; merged, sorted, non-touching [startMinute, endMinute) ranges. */
  weekly: Array<Array<[number, number]>>;
  /** Local dates as days since 1970-01-01. */
  holidayDays: Set<number>;
  /** month * 100 + day-of-month. */
  recurring: Set<number>;
  /** False if no weekday has a window or every month/day is a recurring holiday. */
  everOpen: boolean;
}

const compiled = new WeakMap<Calendar, Compiled>();

function compile(cal: Calendar): Compiled {
  const hit = compiled.get(cal);
  if (hit) return hit;
  const zone = IANAZone.create(cal.time_zone);
  if (!zone.isValid) {
    throw new DeskflowError('internal', `business-hours: invalid time zone ${JSON.stringify(cal.time_zone)}`);
  }
  const weekly: Array<Array<[number, number]>> = [[], [], [], [], [], [], []];
  for (const w of cal.weekly) {
    const start = toMinutes(w.start);
    const end = toMinutes(w.end);
    if (!(w.day >= 0 && w.day <= 6) || !(start < end)) {
      throw new DeskflowError('internal', `business-hours: invalid weekly window ${JSON.stringify(w)}`);
    }
    weekly[w.day]!.push([start, end]);
  }
  for (let d = 0; d < 7; d++) weekly[d] = mergeRanges(weekly[d]!);
  const holidayDays = new Set<number>();
  const recurring = new Set<number>();
  for (const h of cal.holidays) {
    const m = DATE.exec(h.date);
    if (!m || !isValidDate(h.date)) {
      throw new DeskflowError('internal', `business-hours: invalid holiday date ${JSON.stringify(h.date)}`);
    }
    const [year, month, dom] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (h.recurring) recurring.add(month * 100 + dom);
    else holidayDays.add(Date.UTC(year, month - 1, dom) / DAY);
  }
  const everOpen = weekly.some((ranges) => ranges.length > 0) && recurring.size < 366;
  const c: Compiled = { zone, weekly, holidayDays, recurring, everOpen };
  compiled.set(cal, c);
  return c;
}

function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const prev = out[out.length - 1];
    if (prev && s <= prev[1]) prev[1] = Math.max(prev[1], e);
    else out.push([s, e]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-day windows as instants

const NO_WINDOWS: ReadonlyArray<[number, number]> = [];

/** Open windows of local day `day` (days since epoch) as sorted, disjoint [startMs, endMs). */
function dayWindows(c: Compiled, day: number, ignoreHolidays: boolean): ReadonlyArray<[number, number]> {
  const ranges = c.weekly[weekday(day)]!;
  if (ranges.length === 0) return NO_WINDOWS;
  if (!ignoreHolidays && isHoliday(c, day)) return NO_WINDOWS;
  const wall0 = day * DAY; // local midnight, written as if it were UTC
  const [offLo, offHi] = dayOffsets(c.zone, day);
  const out: Array<[number, number]> = [];
  for (const [sMin, eMin] of ranges) {
    const sWall = wall0 + sMin * MINUTE;
    const eWall = wall0 + eMin * MINUTE;
    let s: number;
    let e: number;
    if (offLo === offHi) {
      // No transition near this day (the common case): one fixed offset.
      s = sWall - offLo * MINUTE;
      e = eWall - offLo * MINUTE;
    } else {
      s = wallToInstant(c.zone, sWall, offLo, offHi);
      e = wallToInstant(c.zone, eWall, offLo, offHi);
    }
    if (e > s) out.push([s, e]); // a window wholly inside a spring-forward gap is empty
  }
  return out;
}

/**
 * Zone offsets (minutes) just before and just after every instant local day `day` can cover
 * (offsets range over -12h..+14h). Equal means no transition affects the day; this assumes a
 * zone never changes offset twice within ~2 days, true of every zone in the tz database today.
 * Intl offset look-ups cost microseconds, so they are memoised (per zone, bounded).
 */
const offsetCache = new Map<string, Map<number, [number, number]>>();
const OFFSET_CACHE_MAX = 50_000;

function dayOffsets(zone: IANAZone, day: number): [number, number] {
  let perZone = offsetCache.get(zone.name);
  if (!perZone) {
    perZone = new Map();
    offsetCache.set(zone.name, perZone);
  }
  const hit = perZone.get(day);
  if (hit) return hit;
  const wall0 = day * DAY;
  const offsets: [number, number] = [zone.offset(wall0 - 15 * HOUR), zone.offset(wall0 + DAY + 13 * HOUR)];
  if (perZone.size >= OFFSET_CACHE_MAX) perZone.clear();
  perZone.set(day, offsets);
  return offsets;
}

/**
 * The instant of local wall time `wall` (wall-clock ms written as UTC) on a day where the zone
 * switches between offsets `a` and `b`: the earlier instant if the time occurs twice, the
 * transition instant if it does not occur at all (see the DST rules at the top).
 */
function wallToInstant(zone: IANAZone, wall: number, a: number, b: number): number {
  let best = Infinity;
  for (const off of [a, b]) {
    const t = wall - off * MINUTE;
    if (zone.offset(t) === off && t < best) best = t;
  }
  if (best !== Infinity) return best;
  // In the gap: find the first instant whose local time is >= wall. local(t) = t + offset(t)
  // increases across a spring-forward transition; offsets change on whole seconds.
  let lo = Math.floor((wall - Math.max(a, b) * MINUTE) / 1000); // local(lo) < wall
  let hi = Math.ceil((wall - Math.min(a, b) * MINUTE) / 1000); // local(hi) >= wall
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const t = mid * 1000;
    if (t + zone.offset(t) * MINUTE >= wall) hi = mid;
    else lo = mid;
  }
  return hi * 1000;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/**
 * First/last local day that can touch an instant: offsets are within -12h..+14h, so the local
 * date is the UTC date or its neighbour. Iterating one day extra on each side avoids an Intl
 * look-up per call; windows outside the range are clipped away anyway.
 */
function firstDay(ms: number): number {
  return Math.floor(ms / DAY) - 1;
}
function lastDay(ms: number): number {
  return Math.floor(ms / DAY) + 1;
}

function weekday(day: number): number {
  return (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
}

function isHoliday(c: Compiled, day: number): boolean {
  if (c.holidayDays.has(day)) return true;
  if (c.recurring.size === 0) return false;
  const d = new Date(day * DAY);
  return c.recurring.has((d.getUTCMonth() + 1) * 100 + d.getUTCDate());
}

function formatDay(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}

function toMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function isValidDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const [year, month, dom] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(Date.UTC(year, month - 1, dom));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === dom;
}

function assertInstant(ms: number, name: string): void {
  if (!Number.isFinite(ms)) throw new DeskflowError('internal', `business-hours: ${name} must be finite, got ${ms}`);
}

function noOpenTime(cal: Calendar): DeskflowError {
  return new DeskflowError('rule_violation', `business-hours calendar (${cal.time_zone}) has no open time`);
}
