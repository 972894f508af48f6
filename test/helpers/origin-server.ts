import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback origin for e2e tests and benches. It answers for every fixture host name (the browsers
 * map those names with --host-resolver-rules) and logs each request so tests can tell who fetched.
 */
export interface OriginRequest {
  host: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface OriginServer {
  port: number;
  requests: OriginRequest[];
  bigBody: Buffer;
  bigSha256: string;
  /** Resolves when a client of `/slow` hangs up before the endless body ends. */
  slowClientGone: Promise<void>;
  close(): Promise<void>;
}

export const SMALL_TEXT = 'hello from the origin, via a peer\n';

/** Deterministic bytes, so a hash mismatch means corruption, never chance. */
export function deterministicBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  let state = 0x12345678;
  for (let index = 0; index < size; index += 1) {
    state = (state * 1664525 + 1013904223) >>> 0;
    out[index] = state >>> 24;
  }
  return out;
}

export async function startOriginServer(bigBytes = 5 * 1024 * 1024): Promise<OriginServer> {
  const bigBody = deterministicBytes(bigBytes);
  const requests: OriginRequest[] = [];
  let markSlowGone: () => void = () => undefined;
  const slowClientGone = new Promise<void>((resolve) => {
    markSlowGone = resolve;
  });
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    requests.push({ host: request.headers.host ?? '', path, headers: request.headers });
    if (path.startsWith('/app')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!doctype html><title>fixture app</title><h1>fixture app</h1>');
      return;
    }
    if (path.startsWith('/small.txt')) {
      response.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'tracker=1', 'x-origin': 'yes' });
      response.end(SMALL_TEXT);
      return;
    }
    if (path.startsWith('/big.bin')) {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bigBody.length) });
      response.end(bigBody);
      return;
    }
    if (path.startsWith('/slow')) {
      // An endless trickle: only a cancelled fetch ends it.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => response.write(Buffer.alloc(1024, 120)), 50);
      response.on('close', () => {
        clearInterval(timer);
        markSlowGone();
      });
      return;
    }
    if (path.startsWith('/bytes/')) {
      const size = Math.min(64 * 1024 * 1024, Number(path.slice('/bytes/'.length)) || 0);
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      response.end(size === bigBody.length ? bigBody : deterministicBytes(size));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    bigBody,
    bigSha256: createHash('sha256').update(bigBody).digest('hex'),
    slowClientGone,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
