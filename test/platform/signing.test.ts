/** platform/signing.ts: the `t=<unix>,v1=<hex>` signatures inbound email uses (and webhooks will). */
import { createHmac } from 'node:crypto';
import { signPayload, verifyPayload } from '../../platform/signing';

const secret = 'whsec_test-secret';
const body = Buffer.from('{"message_id":"<a@b>","text":"héllo"}');
const t = 1_764_000_000;
const at = (seconds: number) => ({ nowMs: seconds * 1000 });

it('keeps the wire format: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">', () => {
  const expected = createHmac('sha256', secret)
    .update(`${t}.${body.toString('utf8')}`)
    .digest('hex');
  expect(signPayload(secret, body, t)).toBe(`t=${t},v1=${expected}`);
  expect(signPayload(secret, body.toString('utf8'), t)).toBe(`t=${t},v1=${expected}`);
});

it('accepts its own signature within the tolerance window, either side of now', () => {
  const header = signPayload(secret, body, t);
  expect(verifyPayload(header, body, secret, at(t))).toBe(true);
  expect(verifyPayload(header, body, secret, at(t + 300))).toBe(true);
  expect(verifyPayload(header, body, secret, at(t - 300))).toBe(true);
  expect(verifyPayload(` t=${t} , v1=${header.split('v1=')[1]} `, body, secret, at(t))).toBe(true);
});

it('refuses a replay outside the window, another secret, another payload, or a bent timestamp', () => {
  const header = signPayload(secret, body, t);
  expect(verifyPayload(header, body, secret, at(t + 301))).toBe(false);
  expect(verifyPayload(header, body, secret, at(t - 301))).toBe(false);
  expect(verifyPayload(header, body, secret, { ...at(t + 1000), toleranceSec: 999 })).toBe(false);
  expect(verifyPayload(header, body, secret, { ...at(t + 1000), toleranceSec: 1000 })).toBe(true);
  expect(verifyPayload(header, body, 'whsec_other', at(t))).toBe(false);
  expect(verifyPayload(header, Buffer.concat([body, Buffer.from(' ')]), secret, at(t))).toBe(false);
  // The time is signed: moving it into the window breaks the signature.
  expect(verifyPayload(header.replace(`t=${t}`, `t=${t + 1}`), body, secret, at(t))).toBe(false);
});

it.each([
  ['absent', undefined],
  ['empty', ''],
  ['no time', `v1=${'0'.repeat(64)}`],
  ['no signature', `t=${t}`],
  ['time not an integer', `t=${t}.5,v1=${'0'.repeat(64)}`],
  ['signature not hex', `t=${t},v1=zz`],
  ['truncated signature', signPayload(secret, body, t).slice(0, -2)],
])('refuses a malformed header (%s)', (_name, header) => {
  expect(verifyPayload(header, body, secret, at(t))).toBe(false);
});

it('accepts any of several secrets (a rotation with overlap), and only those', () => {
  const header = signPayload('whsec_old', body, t);
  expect(verifyPayload(header, body, ['whsec_new', 'whsec_old'], at(t))).toBe(true);
  expect(verifyPayload(header, body, ['whsec_new'], at(t))).toBe(false);
  expect(verifyPayload(header, body, [], at(t))).toBe(false);
});
