import { spawn } from 'node:child_process';
import { freePort } from './redis';

/**
 * Debian's coturn on loopback with the REST-API shared secret (`use-auth-secret`), as an operator
 * would pair it with the signaling server's PEERLANE_TURN_SECRET. Loopback peers are allowed here
 * only because both browsers sit on this machine; its log is kept so a test can see allocations.
 */
export interface Coturn {
  url: string;
  secret: string;
  log(): string;
  stop(): Promise<void>;
}

/** Default: loopback. `netns` + `listeningIps`: coturn as a public STUN/TURN server inside a namespace (the NAT lab). */
export async function startCoturn(
  where: { netns: string; listeningIps: string[]; port: number } | null = null,
): Promise<Coturn> {
  const port = where?.port ?? (await freePort());
  const secret = `turn-${Math.random().toString(36).slice(2)}`;
  const ips = where?.listeningIps ?? ['127.0.0.1'];
  const turnserver = process.env.TURNSERVER ?? '/usr/bin/turnserver';
  const [command, prefix] = where ? ['ip', ['netns', 'exec', where.netns, turnserver]] : [turnserver, []];
  const child = spawn(
    command,
    [
      ...prefix,
      '-n',
      ...ips.map((address) => `--listening-ip=${address}`),
      `--relay-ip=${ips[0]}`,
      `--listening-port=${port}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=peerlane.test',
      '--allow-loopback-peers',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--min-port=49152',
      '--max-port=65535',
      '--log-file=stdout',
      '--simple-log',
      '--fingerprint',
      '--verbose',
      `--pidfile=/tmp/peerlane-turn-${port}.pid`,
      `--userdb=/tmp/peerlane-turn-${port}.db`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const check = setInterval(() => {
      if (output.includes('Total General servers')) {
        clearInterval(check);
        resolve();
      } else if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(check);
        reject(new Error(`coturn did not start: ${output.slice(-2000)}`));
      }
    }, 50);
  });
  return {
    url: `turn:${ips[0]}:${port}?transport=udp`,
    secret,
    log: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
