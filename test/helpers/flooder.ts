import { WebSocket } from 'ws';

/**
 * An abusive signaling client, run as its own process so it floods at full speed without sharing
 * the test's event loop: from its own loopback address it sends garbage and valid-but-excessive
 * messages as fast as the socket takes them, reconnects the moment it is cut off or refused, and
 * stops after `seconds` (bounded). Prints how often it was cut off and refused.
 */
const [url = '', localAddress = '127.0.0.66', seconds = '10'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
let cutOff = 0;
let refused = 0;
let sent = 0;

function connect(): void {
  if (Date.now() > deadline) return finish();
  const socket = new WebSocket(url, { localAddress });
  socket.on('open', () => {
    const flood = (): void => {
      while (socket.readyState === WebSocket.OPEN && socket.bufferedAmount < 1 << 20 && Date.now() < deadline) {
        socket.send(sent % 2 === 0 ? '{"type":"find-exits","count":8,"exclude":[]}' : 'not json at all');
        sent += 1;
      }
      if (socket.readyState === WebSocket.OPEN && Date.now() < deadline) setImmediate(flood);
    };
    flood();
  });
  socket.on('unexpected-response', () => {
    refused += 1;
    socket.terminate();
  });
  socket.on('close', () => {
    cutOff += 1;
    setImmediate(connect);
  });
  socket.on('error', () => undefined);
}

function finish(): void {
  process.stdout.write(`${JSON.stringify({ sent, cutOff, refused })}\n`);
  process.exit(0);
}

connect();
setTimeout(finish, Number(seconds) * 1000 + 2000).unref();
process.on('SIGTERM', finish);
