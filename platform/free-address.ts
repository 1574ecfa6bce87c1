/** Finds a bindable `host:port`, so several processes of one kind can share a machine with one default. */
import { createServer } from 'node:net';

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** `address` if its port is free, else the next free port above it (at most `tries` ports), else null. */
export async function firstFreeAddress(address: string, tries = 16): Promise<string | null> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  const port = Number(address.slice(at + 1));
  for (let p = port; p < port + tries; p++) {
    if (await canBind(host, p)) return `${host}:${p}`;
  }
  return null;
}
