import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClientMessage } from '../protocol/signaling-messages';

/** The server's Prometheus metrics, one registry per server (tests run several in one process). */
export class SignalingMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge<'role'>;
  readonly messages = new Counter({
    name: 'peerlane_signaling_messages_total',
    help: 'Client messages accepted, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly rejects = new Counter({
    name: 'peerlane_signaling_rejects_total',
    help: 'Connections and messages refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly introductionSeconds = new Histogram({
    name: 'peerlane_signaling_introduction_seconds',
    help: 'From a find-exits request to the answer',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly redisSeconds = new Histogram({
    name: 'peerlane_signaling_redis_seconds',
    help: 'Redis round trips, by operation',
    labelNames: ['op'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });

  /**
   * One bound counter per message type: `inc({ type })` hashes its labels on every call, which on
   * the relay path costs as much as the schema check.
   */
  private readonly messageCounters = new Map<ClientMessage['type'], { inc(): void }>();

  countMessage(type: ClientMessage['type']): void {
    let counter = this.messageCounters.get(type);
    if (!counter) {
      counter = this.messages.labels({ type });
      this.messageCounters.set(type, counter);
    }
    counter.inc();
  }

  constructor(countByRole: () => Record<'exit' | 'requester' | 'unregistered', number>) {
    this.connections = new Gauge({
      name: 'peerlane_signaling_connections',
      help: 'Open connections on this node, by role',
      labelNames: ['role'] as const,
      registers: [this.registry],
      collect() {
        for (const [role, count] of Object.entries(countByRole())) this.set({ role }, count);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'peerlane_signaling_' });
  }
}
