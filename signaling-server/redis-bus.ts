import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BusHandlers, ExitRecord, NodeEnvelope, SignalingBus } from './bus';

/**
 * Several signaling nodes behind a load balancer, sharing over Redis pub/sub:
 * - the exit directory: every change is published on `peerlane:exits` and kept in the hash of the
 *   same name, so a node that starts late reads the whole directory once, then follows the channel;
 * - messages for a peer on another node go to that node's channel `peerlane:node:<id>`. One publisher
 *   connection keeps them in order (an offer before its candidates).
 * Every command's round trip is reported through `observe` (Prometheus histogram).
 */
const EXITS = 'peerlane:exits';
const nodeChannel = (nodeId: string): string => `peerlane:node:${nodeId}`;

type ExitEvent = { peerId: string; record: ExitRecord | null };

export class RedisBus implements SignalingBus {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private handlers: BusHandlers | null = null;

  constructor(
    readonly nodeId: string,
    url: string,
    private readonly log: Logger,
    private readonly observe: (op: string, seconds: number) => void,
  ) {
    const options = { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: true };
    this.publisher = new Redis(url, options);
    this.subscriber = new Redis(url, options);
    for (const client of [this.publisher, this.subscriber]) client.on('error', (error: Error) => this.log.warn({ err: error.message }, 'redis'));
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
    await Promise.all([this.publisher.connect(), this.subscriber.connect()]);
    this.subscriber.on('message', (channel: string, raw: string) => this.onMessage(channel, raw));
    await this.timed('subscribe', () => this.subscriber.subscribe(EXITS, nodeChannel(this.nodeId)));
    // The directory as it stands, then the channel keeps it current.
    const snapshot = await this.timed('hgetall', () => this.publisher.hgetall(EXITS));
    for (const [peerId, json] of Object.entries(snapshot)) {
      const record = parseRecord(json);
      if (record) handlers.onExit(peerId, record);
    }
  }

  private onMessage(channel: string, raw: string): void {
    const handlers = this.handlers;
    if (!handlers) return;
    try {
      if (channel === EXITS) {
        const event = JSON.parse(raw) as ExitEvent;
        handlers.onExit(event.peerId, event.record);
      } else handlers.onEnvelope(JSON.parse(raw) as NodeEnvelope);
    } catch (error) {
      // Only our nodes publish here; a bad message is a bug or a foreign writer: log, never crash.
      this.log.error({ channel, err: String(error) }, 'unreadable bus message');
    }
  }

  publishExit(record: ExitRecord): void {
    const json = JSON.stringify(record);
    void this.timed('publish-exit', () =>
      this.publisher
        .multi()
        .hset(EXITS, record.peerId, json)
        .publish(EXITS, JSON.stringify({ peerId: record.peerId, record } satisfies ExitEvent))
        .exec(),
    ).catch((error: unknown) => this.log.warn({ err: String(error) }, 'publish exit failed'));
  }

  removeExit(peerId: string): void {
    void this.timed('remove-exit', () =>
      this.publisher
        .multi()
        .hdel(EXITS, peerId)
        .publish(EXITS, JSON.stringify({ peerId, record: null } satisfies ExitEvent))
        .exec(),
    ).catch((error: unknown) => this.log.warn({ err: String(error) }, 'remove exit failed'));
  }

  sendToNode(nodeId: string, envelope: NodeEnvelope): void {
    void this.timed('publish-node', () => this.publisher.publish(nodeChannel(nodeId), JSON.stringify(envelope))).catch((error: unknown) =>
      this.log.warn({ err: String(error) }, 'relay to node failed'),
    );
  }

  async healthy(): Promise<boolean> {
    try {
      const pong = await Promise.race([this.timed('ping', () => this.publisher.ping()), new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000).unref())]);
      return pong === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.handlers = null;
    await Promise.allSettled([this.subscriber.quit(), this.publisher.quit()]);
  }
}

function parseRecord(json: string): ExitRecord | null {
  try {
    const value = JSON.parse(json) as Partial<ExitRecord>;
    if (typeof value.peerId !== 'string' || typeof value.capacity !== 'number' || typeof value.load !== 'number' || typeof value.seenAt !== 'number') return null;
    return { peerId: value.peerId, capacity: value.capacity, load: value.load, seenAt: value.seenAt };
  } catch {
    return null;
  }
}
