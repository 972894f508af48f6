import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { RedisTarget } from './redis-bus';
import { DEFAULT_SIGNALING_OPTIONS, startSignalingServer, type SignalingOptions } from './server';

/**
 * `npm start` / `npm run signaling`: one process, in-memory state unless REDIS_URL is set.
 * Every knob comes from the environment (docs/signaling.md); a bad value stops the start
 * with a message naming it.
 */
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const env = process.env;

function fail(message: string): never {
  logger.error(message);
  process.exit(2);
}

function integer(name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`${name} must be a whole number from ${min} to ${max}, got ${raw}`);
  return value;
}

const list = (name: string): string[] =>
  (env[name] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** PEERLANE_TLS_CERT and PEERLANE_TLS_KEY: PEM files; both or neither. */
function tlsFiles(): { cert: string; key: string } | null {
  const certPath = env.PEERLANE_TLS_CERT;
  const keyPath = env.PEERLANE_TLS_KEY;
  if (!certPath && !keyPath) return null;
  if (!certPath || !keyPath)
    fail('PEERLANE_TLS_CERT and PEERLANE_TLS_KEY go together (PEM certificate chain and private key)');
  try {
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
  } catch (error) {
    fail(`cannot read the TLS files: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (host:port of some cluster nodes; the rest are discovered). */
function redisTarget(): RedisTarget | null {
  const nodes = list('REDIS_CLUSTER_NODES');
  if (env.REDIS_URL && nodes.length > 0)
    fail('set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  if (env.REDIS_URL) return { kind: 'single', url: env.REDIS_URL };
  if (nodes.length === 0) return null;
  return {
    kind: 'cluster',
    nodes: nodes.map((node) => {
      const match = /^(.+):(\d{1,5})$/.exec(node);
      if (!match) fail(`REDIS_CLUSTER_NODES: ${node} is not host:port`);
      return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
    }),
  };
}

const turnUrls = list('PEERLANE_TURN_URLS');
for (const url of list('PEERLANE_STUN_URLS'))
  if (!/^stuns?:/.test(url)) fail(`PEERLANE_STUN_URLS: ${url} is not a stun: or stuns: URL`);
for (const url of turnUrls) if (!/^turns?:/.test(url)) fail(`PEERLANE_TURN_URLS: ${url} is not a turn: or turns: URL`);
if (turnUrls.length > 0 && !env.PEERLANE_TURN_SECRET)
  fail('PEERLANE_TURN_URLS is set but PEERLANE_TURN_SECRET is not (coturn static-auth-secret)');
const options: Partial<SignalingOptions> = {
  host: env.PEERLANE_HOST ?? DEFAULT_SIGNALING_OPTIONS.host,
  port: integer('PEERLANE_PORT', DEFAULT_SIGNALING_OPTIONS.port, 0, 65_535),
  maxConnections: integer('PEERLANE_MAX_CONNECTIONS', DEFAULT_SIGNALING_OPTIONS.maxConnections, 1, 10_000_000),
  maxConnectionsPerIp: integer(
    'PEERLANE_MAX_CONNECTIONS_PER_IP',
    DEFAULT_SIGNALING_OPTIONS.maxConnectionsPerIp,
    1,
    1_000_000,
  ),
  connectsPerIpPerSecond: integer(
    'PEERLANE_CONNECTS_PER_IP_PER_SECOND',
    DEFAULT_SIGNALING_OPTIONS.connectsPerIpPerSecond,
    1,
    1_000_000,
  ),
  messagesPerSecond: integer('PEERLANE_MESSAGES_PER_SECOND', DEFAULT_SIGNALING_OPTIONS.messagesPerSecond, 1, 1_000_000),
  messagesPerIpPerSecond: integer(
    'PEERLANE_MESSAGES_PER_IP_PER_SECOND',
    DEFAULT_SIGNALING_OPTIONS.messagesPerIpPerSecond,
    1,
    10_000_000,
  ),
  tokenSecret: env.PEERLANE_TOKEN_SECRET || null,
  allowedOrigins: list('PEERLANE_ALLOWED_ORIGINS'),
  ice: {
    stunUrls: list('PEERLANE_STUN_URLS'),
    turn:
      turnUrls.length > 0
        ? {
            secret: env.PEERLANE_TURN_SECRET!,
            urls: turnUrls,
            ttlSeconds: integer('PEERLANE_TURN_TTL_SECONDS', 3600, 60, 86_400),
          }
        : null,
  },
  redis: redisTarget(),
  drainMs: integer('PEERLANE_DRAIN_MS', DEFAULT_SIGNALING_OPTIONS.drainMs, 0, 600_000),
  returnGraceMs: integer('PEERLANE_RETURN_GRACE_MS', DEFAULT_SIGNALING_OPTIONS.returnGraceMs, 0, 600_000),
  reportThreshold: integer('PEERLANE_REPORT_THRESHOLD', DEFAULT_SIGNALING_OPTIONS.reportThreshold, 1, 1_000),
  reportMinAgeMs: integer('PEERLANE_REPORT_MIN_AGE_MS', DEFAULT_SIGNALING_OPTIONS.reportMinAgeMs, 0, 365 * 86_400_000),
  tls: tlsFiles(),
  logger,
};
const server = await startSignalingServer(options);
logger.info(
  `Peerlane signaling on ${server.url} (node ${server.nodeId}; health: ${server.url.replace(/^ws/, 'http')}/healthz)`,
);
// One line for scripts and tests that started the server on port 0.
if (env.PEERLANE_PRINT_URL === '1') process.stdout.write(`PEERLANE_URL=${server.url}\n`);
if (env.PEERLANE_QUIET !== '1') {
  const dist = resolve('dist');
  process.stdout.write(
    [
      '',
      `Peerlane signaling server: ${server.url}   (Ctrl+C to stop)`,
      'Load the unpacked extension:',
      `  Chrome/Chromium: chrome://extensions → Developer mode → Load unpacked → ${resolve(dist, 'chrome')}`,
      `  Firefox:         about:debugging#/runtime/this-firefox → Load Temporary Add-on → ${resolve(dist, 'firefox', 'manifest.json')}`,
      `The extension's default signaling URL is ws://127.0.0.1:8787; change it in Peerlane's settings if you moved the server.`,
      '',
    ].join('\n') + '\n',
  );
}

// SIGTERM/SIGINT: drain (clients are told to reconnect, elsewhere behind a balancer), then exit.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: draining`);
    void server.close().then(() => process.exit(0));
  });
}
