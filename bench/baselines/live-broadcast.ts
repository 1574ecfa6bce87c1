/**
 * Baseline for `npm run bench:live`: a bare `ws` server that accepts every WebSocket connection (no authentication,
 * no filtering, no Redis) and, on `POST /broadcast`, sends the request body as one text frame to every open
 * connection. What holding and fanning out to many sockets costs in Node with `ws` alone: the floor for
 * `/api/v1/live` on this machine. Sends `{"type":"ready"}` on connecting, as the API does, so both sides are
 * "open" at the same point. `GET /count`: open connections.
 *
 * Env: PORT (0: any). Prints `live-broadcast listening <port>` when ready.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/broadcast') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
      res.writeHead(204).end();
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/count') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(String(wss.clients.size));
  res.writeHead(404).end();
});
server.keepAliveTimeout = 65_000;

// Like the API's: no compression (CPU and memory per connection).
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
  ws.send('{"type":"ready"}');
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`live-broadcast listening ${(server.address() as AddressInfo).port}`);
});

const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
