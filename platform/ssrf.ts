/**
 * Webhook targets must not reach into our own network (SSRF). A URL is checked when an endpoint is
 * created or changed (`assertSafeWebhookUrl`), and every connection resolves its host through
 * `safeLookup`, which checks each address and hands the socket the address it checked: a DNS answer
 * that changes between the check and the connection (rebinding) cannot slip a private address in.
 *
 * Only plain global unicast addresses pass. Loopback passes with WEBHOOK_ALLOW_LOOPBACK (tests, local
 * development); anything else private only through WEBHOOK_ALLOWLIST; cloud metadata addresses never.
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { DeskflowError } from '../domain/errors';
import type { Config } from './config';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export interface WebhookUrlPolicy {
  allowHttp: boolean;
  allowLoopback: boolean;
  /** Hosts (lower case, exact) allowed whatever they resolve to, except cloud metadata. */
  allowedHosts: ReadonlySet<string>;
  /** Address ranges allowed even if private, except cloud metadata. */
  allowedRanges: readonly [Address, number][];
}

/** Why a URL or address is refused: stable, part of the `unsafe_url` problem as `reason`. */
export type UnsafeReason =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'plain_http'
  | 'credentials_in_url'
  | 'unresolvable_host'
  | 'cloud_metadata'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'carrier_grade_nat'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'unique_local'
  | 'reserved';

const RANGE_REASON: Record<string, UnsafeReason> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link_local',
  carrierGradeNat: 'carrier_grade_nat',
  multicast: 'multicast',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  uniqueLocal: 'unique_local',
};

const REASON_TEXT: Record<UnsafeReason, string> = {
  invalid_url: 'not a valid absolute URL',
  scheme_not_allowed: 'only https URLs are allowed',
  plain_http: 'use https (plain http is allowed only when WEBHOOK_ALLOW_HTTP=true, or to loopback with WEBHOOK_ALLOW_LOOPBACK=true)',
  credentials_in_url: 'a URL must not carry a user name or password',
  unresolvable_host: 'the host does not resolve',
  cloud_metadata: 'a cloud metadata address',
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address',
  carrier_grade_nat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  broadcast: 'a broadcast address',
  unique_local: 'an IPv6 unique-local address',
  reserved: 'a reserved or special-purpose address',
};

/** Instance metadata services (AWS/GCP/Azure, AWS IPv6, Alibaba, Oracle): refused even when allowlisted. */
const METADATA = ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '192.0.0.192'].map((a) => ipaddr.parse(a).toNormalizedString());

export function unsafeUrl(reason: UnsafeReason, detail?: string): DeskflowError {
  const message = detail ?? REASON_TEXT[reason];
  return new DeskflowError('unsafe_url', `url: ${message}`, { reason, errors: [{ path: 'body.url', message }] });
}

/** The policy from configuration; a malformed WEBHOOK_ALLOWLIST entry fails at startup. */
export function webhookUrlPolicy(config: Pick<Config, 'WEBHOOK_ALLOW_HTTP' | 'WEBHOOK_ALLOW_LOOPBACK' | 'WEBHOOK_ALLOWLIST'>): WebhookUrlPolicy {
  const allowedHosts = new Set<string>();
  const allowedRanges: [Address, number][] = [];
  for (const entry of config.WEBHOOK_ALLOWLIST.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    if (entry.includes('/')) {
      try {
        allowedRanges.push(ipaddr.parseCIDR(entry));
      } catch {
        throw new Error(`WEBHOOK_ALLOWLIST: not a CIDR range: ${entry}`);
      }
    } else if (ipaddr.isValid(entry)) {
      const address = ipaddr.parse(entry);
      allowedRanges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^[a-z0-9.-]{1,253}$/.test(entry)) {
      allowedHosts.add(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`WEBHOOK_ALLOWLIST: not a host name, address or CIDR range: ${entry}`);
    }
  }
  return { allowHttp: config.WEBHOOK_ALLOW_HTTP, allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK, allowedHosts, allowedRanges };
}

const ipv4Of = (bytes: number[]) => new ipaddr.IPv4(bytes.slice(-4));

/**
 * The IPv4 address an IPv6 address stands for, if any: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
 * translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::). Each reaches
 * that IPv4 host one way or another, so it is judged as that host.
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  const bytes = address.toByteArray();
  const parts = address.parts;
  if (address.range() === 'ipv4Mapped' || address.range() === 'rfc6145') return ipv4Of(bytes);
  if (parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || parts[7]! > 1)) return ipv4Of(bytes); // compatible, not :: or ::1
  if (address.match(ipaddr.IPv6.parse('64:ff9b::'), 96)) return ipv4Of(bytes);
  if (address.range() === '6to4') return new ipaddr.IPv4(bytes.slice(2, 6));
  return null;
}

/** Why this address is refused, or null when it may be connected to under `policy`. */
export function refusalOf(raw: string, policy: WebhookUrlPolicy, host?: string): UnsafeReason | null {
  let address: Address;
  try {
    address = ipaddr.parse(raw.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'invalid_url';
  }
  const judged = address.kind() === 'ipv6' ? (embeddedIPv4(address as ipaddr.IPv6) ?? address) : address;
  if (METADATA.includes(judged.toNormalizedString()) || METADATA.includes(address.toNormalizedString())) return 'cloud_metadata';
  if (host !== undefined && policy.allowedHosts.has(host.toLowerCase().replace(/\.$/, ''))) return null;
  for (const candidate of new Set([address, judged])) {
    if (policy.allowedRanges.some(([net, bits]) => net.kind() === candidate.kind() && candidate.match(net, bits))) return null;
  }
  const range = judged.range();
  if (range === 'unicast') {
    // ipaddr.js calls what it does not name "unicast"; the rest of ::/8 and teredo are not reachable hosts for us.
    if (judged.kind() === 'ipv6' && (judged as ipaddr.IPv6).parts[0] === 0) return 'reserved';
    return null;
  }
  if (range === 'loopback' && policy.allowLoopback) return null;
  return RANGE_REASON[range] ?? 'reserved';
}

const isLoopback = (raw: string) => {
  const address = ipaddr.parse(raw);
  const judged = address.kind() === 'ipv6' ? (embeddedIPv4(address as ipaddr.IPv6) ?? address) : address;
  return judged.range() === 'loopback';
};

/** A URL's host without IPv6 brackets, lower case. */
const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

/**
 * Refuses (422 `unsafe_url`, with `reason`) a webhook URL that is not https (unless allowed), carries
 * credentials, or whose host is, or resolves to even one, address that is not plain global unicast.
 * Returns the parsed URL and the addresses it resolved to.
 */
export async function assertSafeWebhookUrl(raw: string, policy: WebhookUrlPolicy): Promise<{ url: URL; addresses: string[] }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw unsafeUrl('invalid_url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unsafeUrl('scheme_not_allowed');
  if (url.username || url.password) throw unsafeUrl('credentials_in_url');
  const plainHttp = url.protocol === 'http:' && !policy.allowHttp;
  if (plainHttp && !policy.allowLoopback) throw unsafeUrl('plain_http');
  const host = hostOf(url);
  if (!host) throw unsafeUrl('invalid_url');

  let addresses: string[];
  const literal = ipaddr.isValid(host);
  if (literal) {
    addresses = [host];
  } else {
    try {
      addresses = (await dns.promises.lookup(host, { all: true })).map((a) => a.address);
    } catch {
      throw unsafeUrl('unresolvable_host');
    }
    if (addresses.length === 0) throw unsafeUrl('unresolvable_host');
  }
  for (const address of addresses) {
    const reason = refusalOf(address, policy, literal ? undefined : host);
    // A literal names its address; a host name's resolution stays private (no probing of internal DNS).
    if (reason) throw unsafeUrl(reason, literal ? `${host} is ${REASON_TEXT[reason]}` : `the host resolves to ${REASON_TEXT[reason]}`);
  }
  if (plainHttp && !addresses.every(isLoopback)) throw unsafeUrl('plain_http');
  return { url, addresses };
}

/**
 * A `dns.lookup` for `http.request({ lookup })` and `net.connect({ lookup })`: resolves every address,
 * refuses the connection if any is unsafe, and answers with the checked addresses, so the socket goes
 * where the check looked. (Node does not call `lookup` for an IP literal host: check those with
 * `assertSafeWebhookUrl` before connecting.)
 */
export function safeLookup(policy: WebhookUrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (addresses.length === 0) return callback(unsafeUrl('unresolvable_host'), '', 0);
      for (const { address } of addresses) {
        const reason = refusalOf(address, policy, hostname);
        if (reason) return callback(unsafeUrl(reason, `${hostname} resolves to ${REASON_TEXT[reason]}`), '', 0);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      callback(null, first!.address, first!.family);
    });
  };
}

/**
 * A `lookup` that answers with addresses `assertSafeWebhookUrl` already resolved and checked: one DNS
 * query per attempt instead of two, and the socket goes exactly where the check looked.
 */
export function pinnedLookup(addresses: readonly string[]): LookupFunction {
  const answers = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_hostname, options, callback) => {
    const wanted = options.family ? answers.filter((a) => a.family === options.family) : answers;
    if (wanted.length === 0) return callback(unsafeUrl('unresolvable_host'), '', 0);
    if (options.all) return callback(null, wanted);
    callback(null, wanted[0]!.address, wanted[0]!.family);
  };
}
