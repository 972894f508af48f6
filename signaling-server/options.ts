import { pino, type Logger } from 'pino';
import type { RedisTarget } from './redis-bus';
import type { IceConfig } from './turn';

/** What an operator sets (main.ts reads it from the environment) and the defaults: one place for both. */
export interface SignalingOptions {
  host: string;
  port: number;
  /** A peer reaped by the heartbeat keeps its pairings this long for its return (returning-peers.ts). */
  returnGraceMs: number;
  heartbeatMs: number;
  /** Messages a connection may send per second (token bucket, burst of twice this). */
  messagesPerSecond: number;
  /** Invalid or over-limit messages tolerated before the connection is closed. */
  maxInvalidMessages: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  connectsPerIpPerSecond: number;
  messagesPerIpPerSecond: number;
  /** HMAC secret for connection tokens (`?token=`); null: no token needed. */
  tokenSecret: string | null;
  /** Allowed `Origin` values (`moz-extension://*` style wildcards); empty: any. */
  allowedOrigins: string[];
  /** STUN and TURN servers handed to every peer at registration. */
  ice: IceConfig;
  /** An exit not refreshed for 2.5× this is no longer introduced. */
  exitRefreshMs: number;
  /** One Redis or a Redis Cluster shared by several nodes; null: one node, state in memory. */
  redis: RedisTarget | null;
  /** Graceful shutdown: clients are asked to reconnect within this, then the rest are cut after `drainMs`. */
  reconnectWithinMs: number;
  drainMs: number;
  /** PEM certificate (chain) and key: served as wss:// and https:// by the server itself. Null: ws://. */
  tls: { cert: string; key: string } | null;
  /** Independent requesters whose reports of one exit (`report-exit`) stop its introductions. */
  /**
   * A report counts only from an identity signaling first saw this long ago, or from a member of a
   * circle (a credential someone signed): fresh identities cost nothing, so a swarm of them must not
   * be able to take honest exits out (Sybil resistance).
   */
  reportMinAgeMs: number;
  reportThreshold: number;
  logger: Logger;
}

export const DEFAULT_SIGNALING_OPTIONS: SignalingOptions = {
  host: '127.0.0.1',
  port: 8787,
  heartbeatMs: 15_000,
  returnGraceMs: 20_000,
  messagesPerSecond: 50,
  maxInvalidMessages: 10,
  maxConnections: 50_000,
  maxConnectionsPerIp: 64,
  connectsPerIpPerSecond: 20,
  messagesPerIpPerSecond: 1_000,
  tokenSecret: null,
  allowedOrigins: [],
  ice: { stunUrls: [], turn: null },
  exitRefreshMs: 10_000,
  redis: null,
  reconnectWithinMs: 5_000,
  drainMs: 10_000,
  tls: null,
  reportThreshold: 3,
  reportMinAgeMs: 24 * 60 * 60 * 1000,
  logger: pino({ level: 'silent' }),
};

/** Close codes a client can act on. */
export const CloseCode = { TOO_BIG: 1009, POLICY: 1008, GOING_AWAY: 1001, REPLACED: 4000 } as const;
