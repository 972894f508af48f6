import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

/**
 * The floor for `npm run bench:signaling`: a bare `ws` server in its own process that echoes every
 * message and answers `/rss` with its resident memory. Nothing else: no parsing, no state.
 */
const http = createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ rss: process.memoryUsage().rss }));
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => process.stdout.write('listening\n'));
