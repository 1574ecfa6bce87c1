/** Finds a bindable `host:port`, so several processes of one kind can share a machine with one default. */
import { createServer } from 'node:net';

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** `host:port` (IPv6 hosts in brackets) as its parts; the host without brackets. */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

/** `address` if its port is free, else the next free port above it (at most `tries` ports), else null. */
export async function firstFreeAddress(address: string, tries = 16): Promise<string | null> {
  const { host, port } = splitAddress(address);
  for (let p = port; p < port + tries; p++) {
    // The address as given (an IPv6 host keeps its brackets), with the port found.
    if (await canBind(host, p)) return `${address.slice(0, address.lastIndexOf(':'))}:${p}`;
  }
  return null;
}
