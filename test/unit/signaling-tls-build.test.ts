import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignalingServer } from '../../signaling-server/server';
import { selfSignedCertificate, type SelfSigned } from '../helpers/self-signed';
import { TestClient } from '../helpers/ws-client';
import { closeAll } from '../helpers/close-all';

/** wss:// served by the signaling server itself, and the compiled server `npm start` runs. */
let tls: SelfSigned;
beforeAll(() => {
  tls = selfSignedCertificate();
});
afterAll(() => closeAll(tls));

function httpsJson(url: string, ca: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: new Agent({ ca }) }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
    })
      .on('error', reject)
      .end();
  });
}

describe('signaling over TLS', () => {
  it('serves wss:// and https:// with the given certificate; a client that does not trust it is refused', async () => {
    const server = await startSignalingServer({ port: 0, tls: { cert: tls.cert, key: tls.key } });
    try {
      expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      const trusting = new TestClient(server.url, { ca: tls.cert });
      await trusting.opened();
      expect(await trusting.register(true)).toMatch(/.{8,}/);
      expect((await httpsJson(`${server.url.replace('wss', 'https')}/healthz`, tls.cert)).body).toMatchObject({
        status: 'ok',
        peers: 1,
      });
      const stranger = new TestClient(server.url);
      await expect(stranger.opened()).rejects.toThrow(/self[- ]signed|certificate/i);
      trusting.socket.terminate();
    } finally {
      await server.close();
    }
  });
});

describe('the compiled signaling server (npm start runs node on it)', () => {
  const built = 'dist/signaling-server/main.js';
  let child: ChildProcess | null = null;
  afterAll(() => child?.kill('SIGKILL'));

  it('starts from the environment with TLS, serves a client, and drains on SIGTERM', async () => {
    expect(existsSync(built), `${built} is missing: npm run build compiles it`).toBe(true);
    child = spawn(process.execPath, [built], {
      env: {
        ...process.env,
        PEERLANE_PORT: '0',
        PEERLANE_QUIET: '1',
        PEERLANE_PRINT_URL: '1',
        LOG_LEVEL: 'warn',
        PEERLANE_DRAIN_MS: '500',
        PEERLANE_TLS_CERT: tls.certPath,
        PEERLANE_TLS_KEY: tls.keyPath,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`no URL printed within 10 s: ${output}`)), 10_000);
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /PEERLANE_URL=(\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    expect(url).toMatch(/^wss:\/\//);
    const client = new TestClient(url, { ca: tls.cert });
    await client.opened();
    expect(await client.register(false)).toMatch(/.{8,}/);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect((await client.next('reconnect')).type).toBe('reconnect');
    client.socket.terminate();
    expect(await exited).toBe(0);
    child = null;
  }, 20_000);

  it('refuses half a TLS configuration with a message naming it', async () => {
    const half = spawn(process.execPath, [built], {
      env: { ...process.env, PEERLANE_PORT: '0', PEERLANE_TLS_CERT: tls.certPath, PEERLANE_TLS_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    half.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => half.once('exit', resolve));
    expect(code).toBe(2);
    expect(output).toMatch(/PEERLANE_TLS_CERT and PEERLANE_TLS_KEY go together/);
  }, 20_000);
});
