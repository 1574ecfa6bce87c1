/**
 * The SSRF rules on their own, with real DNS (`localhost`) and real loopback sockets: which URLs and
 * addresses pass under which settings, and that `safeLookup` both refuses and connects to what it checked.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeskflowError } from '../../domain/errors';
import { assertSafeWebhookUrl, pinnedLookup, refusalOf, safeLookup, type WebhookUrlPolicy, webhookUrlPolicy } from '../../platform/ssrf';

const policy = (settings: { http?: boolean; loopback?: boolean; allowlist?: string } = {}): WebhookUrlPolicy =>
  webhookUrlPolicy({
    WEBHOOK_ALLOW_HTTP: settings.http ?? false,
    WEBHOOK_ALLOW_LOOPBACK: settings.loopback ?? false,
    WEBHOOK_ALLOWLIST: settings.allowlist ?? '',
  });
const strict = policy();
const loopbackOk = policy({ loopback: true });

async function reasonOf(url: string, p: WebhookUrlPolicy): Promise<string | null> {
  try {
    await assertSafeWebhookUrl(url, p);
    return null;
  } catch (err) {
    if (!(err instanceof DeskflowError)) throw err;
    expect(err.code).toBe('unsafe_url');
    expect(err.status).toBe(422);
    return err.extra.reason as string;
  }
}

describe('addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud_metadata'],
    ['fd00:ec2::254', 'cloud_metadata'],
    ['100.100.100.200', 'cloud_metadata'],
    ['169.254.1.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['100.64.0.1', 'carrier_grade_nat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['fd12:3456::1', 'unique_local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'cloud_metadata'],
    ['::7f00:1', 'loopback'], // IPv4-compatible
    ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
    ['2002:a00:1::1', 'private'], // 6to4 of 10.0.0.1
    ['2001:db8::1', 'reserved'],
  ])('%s is refused as %s', (address, reason) => {
    expect(refusalOf(address, strict)).toBe(reason);
  });

  it.each(['1.1.1.1', '8.8.8.8', '2606:4700:4700::1111', '::ffff:1.1.1.1'])('%s (public) passes', (address) => {
    expect(refusalOf(address, strict)).toBeNull();
  });

  it('loopback passes only with WEBHOOK_ALLOW_LOOPBACK, other private ranges still not', () => {
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(refusalOf(address, loopbackOk)).toBeNull();
    for (const address of ['10.0.0.1', '169.254.169.254', '0.0.0.0', '192.168.0.1']) expect(refusalOf(address, loopbackOk)).not.toBeNull();
  });

  it('WEBHOOK_ALLOWLIST allows the listed ranges and hosts, never cloud metadata', () => {
    const listed = policy({ allowlist: '10.1.0.0/16, fd00:1::/32, 192.168.7.7, hooks.internal' });
    expect(refusalOf('10.1.2.3', listed)).toBeNull();
    expect(refusalOf('::ffff:10.1.2.3', listed)).toBeNull();
    expect(refusalOf('10.2.0.1', listed)).toBe('private');
    expect(refusalOf('fd00:1::5', listed)).toBeNull();
    expect(refusalOf('192.168.7.7', listed)).toBeNull();
    expect(refusalOf('192.168.7.8', listed)).toBe('private');
    expect(refusalOf('10.9.9.9', listed, 'hooks.internal')).toBeNull();
    expect(refusalOf('10.9.9.9', listed, 'other.internal')).toBe('private');
    const metadata = policy({ allowlist: '169.254.0.0/16,0.0.0.0/0' });
    expect(refusalOf('169.254.169.254', metadata)).toBe('cloud_metadata');
    expect(refusalOf('169.254.1.1', metadata)).toBeNull();
  });

  it('a malformed WEBHOOK_ALLOWLIST entry fails at startup', () => {
    expect(() => policy({ allowlist: '10.0.0.0/99' })).toThrow(/WEBHOOK_ALLOWLIST/);
    expect(() => policy({ allowlist: 'bad host!' })).toThrow(/WEBHOOK_ALLOWLIST/);
  });
});

describe('assertSafeWebhookUrl', () => {
  it.each([
    ['http://127.0.0.1/hook', 'plain_http'],
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://10.0.0.1/hook', 'private'],
    ['https://169.254.169.254/latest/meta-data/', 'cloud_metadata'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['https://[::1]:8443/hook', 'loopback'],
    ['https://2130706433/hook', 'loopback'], // 127.0.0.1 as one decimal number
    ['https://0x7f.1/hook', 'loopback'],
    ['https://localhost/hook', 'loopback'], // a host name resolving to loopback
    ['http://hooks.example.com/x', 'plain_http'],
    ['ftp://hooks.example.com/x', 'scheme_not_allowed'],
    ['https://user:pass@hooks.example.com/x', 'credentials_in_url'],
    ['not a url', 'invalid_url'],
    ['https://no-such-host.invalid/x', 'unresolvable_host'],
  ])('%s is refused (%s)', async (url, reason) => {
    expect(await reasonOf(url, strict)).toBe(reason);
  });

  it('a public https URL passes', async () => {
    expect(await reasonOf('https://1.1.1.1/hooks', strict)).toBeNull();
    expect(await reasonOf('https://[2606:4700:4700::1111]/hooks', strict)).toBeNull();
  });

  it('WEBHOOK_ALLOW_LOOPBACK allows loopback receivers, over plain http too; nothing else', async () => {
    expect(await reasonOf('http://127.0.0.1:8080/hook', loopbackOk)).toBeNull();
    expect(await reasonOf('http://localhost:8080/hook', loopbackOk)).toBeNull();
    expect(await reasonOf('https://localhost/hook', loopbackOk)).toBeNull();
    expect(await reasonOf('http://1.1.1.1/hook', loopbackOk)).toBe('plain_http');
    expect(await reasonOf('https://10.0.0.1/hook', loopbackOk)).toBe('private');
  });

  it('WEBHOOK_ALLOW_HTTP allows plain http to public addresses only', async () => {
    const httpOk = policy({ http: true });
    expect(await reasonOf('http://1.1.1.1/hook', httpOk)).toBeNull();
    expect(await reasonOf('http://127.0.0.1/hook', httpOk)).toBe('loopback');
  });

  it('an allowlisted host passes whatever it resolves to (real DNS of localhost)', async () => {
    expect(await reasonOf('https://localhost/hook', policy({ allowlist: 'localhost' }))).toBeNull();
    expect(await reasonOf('https://127.0.0.1/hook', policy({ allowlist: '127.0.0.0/8' }))).toBeNull();
  });
});

describe('safeLookup', () => {
  const lookup = (p: WebhookUrlPolicy, host: string, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
      safeLookup(p)(host, { all }, (err, address, family) => resolve({ err, address, family })),
    );

  it('refuses localhost when loopback is not allowed, and passes it when it is (real DNS)', async () => {
    const refused = await lookup(strict, 'localhost', false);
    expect(refused.err).toBeInstanceOf(DeskflowError);
    expect((refused.err as DeskflowError).extra.reason).toBe('loopback');

    const one = await lookup(loopbackOk, 'localhost', false);
    expect(one.err).toBeNull();
    expect(['127.0.0.1', '::1']).toContain(one.address);
    expect([4, 6]).toContain(one.family);

    const all = await lookup(loopbackOk, 'localhost', true);
    expect(all.err).toBeNull();
    expect((all.address as { address: string }[]).length).toBeGreaterThan(0);
    for (const { address } of all.address as { address: string }[]) expect(refusalOf(address, loopbackOk)).toBeNull();
  });

  it('an http request through it connects to the checked address, or not at all', async () => {
    const server = http.createServer((_req, res) => res.end('reached'));
    await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (p: WebhookUrlPolicy) =>
      new Promise<string>((resolve, reject) => {
        // A fresh connection each time (no keep-alive agent): each request must resolve through the lookup.
        const req = http.get({ host: 'localhost', port, path: '/', agent: false, lookup: safeLookup(p) }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
      });
    try {
      expect(await get(loopbackOk)).toBe('reached');
      await expect(get(strict)).rejects.toMatchObject({ code: 'unsafe_url', extra: { reason: 'loopback' } });
    } finally {
      server.close();
    }
  });
});

describe('pinnedLookup', () => {
  it('connects to the addresses already checked, without asking DNS again', async () => {
    const server = http.createServer((_req, res) => res.end('pinned'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (host: string, addresses: string[]) =>
      new Promise<string>((resolve, reject) => {
        const req = http.get({ host, port, path: '/', agent: false, lookup: pinnedLookup(addresses) }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
      });
    try {
      // `.invalid` never resolves (RFC 6761): reaching the server proves no lookup happened.
      expect(await get('receiver.invalid', ['127.0.0.1'])).toBe('pinned');
      // Only the checked family is offered; nothing else is tried.
      await expect(get('receiver.invalid', [])).rejects.toMatchObject({ code: 'unsafe_url', extra: { reason: 'unresolvable_host' } });
    } finally {
      server.close();
    }
  });
});
