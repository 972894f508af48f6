import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BusHandlers, ExitRecord, NodeEnvelope, SignalingBus, TrustEvent } from './bus';
import { shareWithValues, type RevocationList, type ShareWith } from '../protocol/circle-proof';
import { natKinds, revocationListSchema, type NatKind } from '../protocol/signaling-messages';

/**
 * Several signaling nodes behind a load balancer, sharing over Redis: one Redis (pub/sub) or a Redis
 * Cluster (sharded pub/sub, Redis 7: a channel lives on the shard of its slot instead of being
 * broadcast to every shard).
 * - the exit directory: every change is published on the exits channel and kept in the hash of the
 *   same name (one hash tag, so the hash, the channel and a transaction on both share a slot); a node
 *   that starts late reads the whole hash once, then follows the channel;
 * - messages for a peer on another node go to that node's channel (hash-tagged by node id, so the
 *   nodes' channels spread over the shards). One publishing connection keeps them in order (an offer
 *   before its candidates).
 * - reports and revocation lists (bus.ts `TrustEvent`): kept in two hashes (reporters per exit; the
 *   newest list per circle) and published on the trust channel, all under the exits' hash tag, so a
 *   script stores and publishes in one step; a node that starts reads both hashes first.
 * Every command's round trip is reported through `observe` (Prometheus histogram).
 */
export type RedisTarget =
  { kind: 'single'; url: string } | { kind: 'cluster'; nodes: { host: string; port: number }[] };

const EXITS = '{peerlane}:exits';
const REPORTS = '{peerlane}:reports';
const REVOCATIONS = '{peerlane}:revocations';
const TRUST = '{peerlane}:trust';
/** Identity → when a node first saw it (epoch ms), for the age a report needs. */
const IDENTITIES = '{peerlane}:identities';
/** Reporters kept per exit: past this many, more change nothing (the threshold is far lower). */
const MAX_REPORTERS = 64;

type TrustMessage = { event: TrustEvent; byNode: string };

/** Adds a reporter to an exit's list once (bounded), then tells every node. */
const REPORT_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local list = current and cjson.decode(current) or {}
for _, id in ipairs(list) do if id == ARGV[2] then return 0 end end
if #list >= tonumber(ARGV[5]) then return 0 end
table.insert(list, ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
redis.call(ARGV[4], KEYS[2], ARGV[3])
return 1`;

/** Keeps a circle's list only if it is newer than the one stored, then tells every node. */
const REVOCATION_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current).version >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call(ARGV[5], KEYS[2], ARGV[4])
return 1`;
const nodeChannel = (nodeId: string): string => `peerlane:node:{${nodeId}}`;

type ExitEvent = { peerId: string; record: ExitRecord | null; byNode: string };

/** Withdraw an exit only if this node's record is the one stored: it may have re-registered elsewhere. */
const WITHDRAW_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current).nodeId ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call(ARGV[4], KEYS[1], ARGV[3])
return 1`;

export class RedisBus implements SignalingBus {
  /** Commands and publishing; with a cluster also the subscriptions (ioredis opens one sharded subscriber per master). */
  private readonly client: Redis | Cluster;
  /** One Redis: a connection in subscriber mode can do nothing else, so it is a second one. */
  private readonly subscriber: Redis | null;
  private readonly publishCommand: 'publish' | 'spublish';
  private handlers: BusHandlers | null = null;

  constructor(
    readonly nodeId: string,
    target: RedisTarget,
    private readonly log: Logger,
    private readonly observe: (op: string, seconds: number) => void,
  ) {
    const options = { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: true };
    if (target.kind === 'single') {
      this.client = new Redis(target.url, options);
      this.subscriber = new Redis(target.url, options);
      this.publishCommand = 'publish';
    } else {
      this.client = new Cluster(target.nodes, {
        shardedSubscribers: true,
        lazyConnect: true,
        redisOptions: { maxRetriesPerRequest: 2 },
      });
      this.subscriber = null;
      this.publishCommand = 'spublish';
    }
    for (const client of [this.client, this.subscriber])
      client?.on('error', (error: Error) => this.log.warn({ err: error.message }, 'redis'));
  }

  private async timed<T>(op: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.observe(op, (performance.now() - started) / 1000);
    }
  }

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
    const channels = [EXITS, TRUST, nodeChannel(this.nodeId)];
    if (this.subscriber) {
      await Promise.all([this.client.connect(), this.subscriber.connect()]);
      this.subscriber.on('message', (channel: string, raw: string) => this.onMessage(channel, raw));
      await this.timed('subscribe', () => this.subscriber!.subscribe(...channels));
    } else {
      await this.client.connect();
      this.client.on('smessage', (channel: string, raw: string) => this.onMessage(channel, raw));
      // Each channel on its own shard: one SSUBSCRIBE per channel (they hash to different slots).
      await this.timed('subscribe', () => Promise.all(channels.map((channel) => this.client.ssubscribe(channel))));
    }
    // The directory as it stands, then the channel keeps it current.
    const snapshot = await this.timed('hgetall', () => this.client.hgetall(EXITS));
    for (const [peerId, json] of Object.entries(snapshot)) {
      const record = parseRecord(json);
      if (record) handlers.onExit(peerId, record, record.nodeId);
    }
    // Reports and revocations as they stand: a restarted node forgets none.
    const [reports, revocations] = await Promise.all([
      this.timed('load-reports', () => this.client.hgetall(REPORTS)),
      this.timed('load-revocations', () => this.client.hgetall(REVOCATIONS)),
    ]);
    for (const [exitId, json] of Object.entries(reports))
      for (const reporterId of parseStrings(json)) handlers.onTrust({ type: 'report', exitId, reporterId });
    for (const json of Object.values(revocations)) {
      const list = parseRevocationList(json);
      if (list) handlers.onTrust({ type: 'revocation', list });
    }
  }

  private onMessage(channel: string, raw: string): void {
    const handlers = this.handlers;
    if (!handlers) return;
    try {
      if (channel === EXITS) {
        const event = JSON.parse(raw) as ExitEvent;
        handlers.onExit(event.peerId, event.record, event.byNode);
      } else if (channel === TRUST) {
        const { event, byNode } = JSON.parse(raw) as TrustMessage;
        if (byNode !== this.nodeId) handlers.onTrust(event);
      } else handlers.onEnvelope(JSON.parse(raw) as NodeEnvelope);
    } catch (error) {
      // Only our nodes publish here; a bad message is a bug or a foreign writer: log, never crash.
      this.log.error({ channel, err: String(error) }, 'unreadable bus message');
    }
  }

  publishExit(record: ExitRecord): void {
    const event = JSON.stringify({ peerId: record.peerId, record, byNode: this.nodeId } satisfies ExitEvent);
    void this.timed('publish-exit', () =>
      this.client.multi().hset(EXITS, record.peerId, JSON.stringify(record))[this.publishCommand](EXITS, event).exec(),
    ).catch((error: unknown) => this.log.warn({ err: String(error) }, 'publish exit failed'));
  }

  removeExit(peerId: string): void {
    const event = JSON.stringify({ peerId, record: null, byNode: this.nodeId } satisfies ExitEvent);
    void this.timed('remove-exit', () =>
      this.client.eval(WITHDRAW_SCRIPT, 1, EXITS, peerId, this.nodeId, event, this.publishCommand),
    ).catch((error: unknown) => this.log.warn({ err: String(error) }, 'remove exit failed'));
  }

  sendToNode(nodeId: string, envelope: NodeEnvelope): void {
    void this.timed('publish-node', () =>
      this.client[this.publishCommand](nodeChannel(nodeId), JSON.stringify(envelope)),
    ).catch((error: unknown) => this.log.warn({ err: String(error) }, 'relay to node failed'));
  }

  noteSeen(peerId: string, now: number): void {
    void this.timed('note-seen', () => this.client.hsetnx(IDENTITIES, peerId, String(now))).catch((error: unknown) =>
      this.log.warn({ err: String(error) }, 'note seen failed'),
    );
  }

  async firstSeen(peerId: string): Promise<number | null> {
    const stored = await this.timed('first-seen', () => this.client.hget(IDENTITIES, peerId));
    const value = Number(stored);
    return stored !== null && Number.isFinite(value) ? value : null;
  }

  publishTrust(event: TrustEvent): void {
    const message = JSON.stringify({ event, byNode: this.nodeId } satisfies TrustMessage);
    const run =
      event.type === 'report'
        ? () =>
            this.client.eval(
              REPORT_SCRIPT,
              2,
              REPORTS,
              TRUST,
              event.exitId,
              event.reporterId,
              message,
              this.publishCommand,
              String(MAX_REPORTERS),
            )
        : () =>
            this.client.eval(
              REVOCATION_SCRIPT,
              2,
              REVOCATIONS,
              TRUST,
              event.list.circle,
              String(event.list.version),
              JSON.stringify(event.list),
              message,
              this.publishCommand,
            );
    void this.timed(`publish-${event.type}`, run).catch((error: unknown) =>
      this.log.warn({ err: String(error) }, `publish ${event.type} failed`),
    );
  }

  async healthy(): Promise<boolean> {
    try {
      const ping = this.timed('ping', () =>
        this.client instanceof Cluster ? this.client.hlen(EXITS).then(() => 'PONG') : this.client.ping(),
      );
      const pong = await Promise.race([
        ping,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000).unref()),
      ]);
      return pong === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.handlers = null;
    await Promise.allSettled([this.subscriber?.quit(), this.client.quit()]);
  }
}

function parseRecord(json: string): ExitRecord | null {
  try {
    const value = JSON.parse(json) as Partial<ExitRecord>;
    if (
      typeof value.peerId !== 'string' ||
      typeof value.nodeId !== 'string' ||
      typeof value.capacity !== 'number' ||
      typeof value.load !== 'number' ||
      typeof value.seenAt !== 'number'
    )
      return null;
    const nat: NatKind = natKinds.includes(value.nat as NatKind) ? (value.nat as NatKind) : 'unknown';
    const shareWith: ShareWith = shareWithValues.includes(value.shareWith as ShareWith)
      ? (value.shareWith as ShareWith)
      : 'everyone';
    const circles = Array.isArray(value.circles)
      ? value.circles.filter((circle): circle is string => typeof circle === 'string')
      : [];
    return {
      peerId: value.peerId,
      nodeId: value.nodeId,
      nat,
      capacity: value.capacity,
      load: value.load,
      seenAt: value.seenAt,
      shareWith,
      circles,
    };
  } catch {
    return null;
  }
}

function parseStrings(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

/** A stored list, shaped as the protocol says (its signature is checked by the node that acts on it). */
function parseRevocationList(json: string): RevocationList | null {
  try {
    const parsed = revocationListSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
