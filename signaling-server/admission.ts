import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { originAllowed, verifyToken } from './auth';
import type { IpLimits } from './limits';
import type { SignalingMetrics } from './metrics';

/**
 * Admission: the checks a WebSocket upgrade passes before any state is spent on it, in order of
 * cost: draining, global cap, Origin allow-list, token (HMAC, expiring), per-IP connection cap and
 * connect rate. A refusal is an HTTP status with the reason in `x-peerlane-reason`.
 */
export interface AdmissionOptions {
  maxConnections: number;
  allowedOrigins: string[];
  tokenSecret: string | null;
}

export type Admission = { ok: true; ip: string } | { ok: false; status: number; reason: string };

const HTTP_REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

export class AdmissionControl {
  constructor(
    private readonly options: AdmissionOptions,
    private readonly ipLimits: IpLimits,
    private readonly metrics: SignalingMetrics,
    private readonly log: Logger,
    private readonly state: { draining(): boolean; connections(): number },
  ) {}

  judge(request: IncomingMessage): Admission {
    const ip = request.socket.remoteAddress ?? 'unknown';
    if (this.state.draining()) return { ok: false, status: 503, reason: 'draining' };
    if (this.state.connections() >= this.options.maxConnections)
      return { ok: false, status: 503, reason: 'server_full' };
    if (!originAllowed(this.options.allowedOrigins, request.headers.origin))
      return { ok: false, status: 403, reason: 'origin_refused' };
    if (this.options.tokenSecret) {
      const token = new URL(request.url ?? '/', 'http://signaling').searchParams.get('token');
      const verdict = verifyToken(this.options.tokenSecret, token, Date.now() / 1000);
      if (!verdict.ok) return { ok: false, status: 401, reason: verdict.reason };
    }
    const admitted = this.ipLimits.admit(ip, Date.now());
    if (!admitted.ok) return { ok: false, status: 429, reason: admitted.reason };
    return { ok: true, ip };
  }

  refuse(socket: Duplex, status: number, reason: string): void {
    this.metrics.rejects.inc({ reason });
    this.log.info({ status, reason }, 'connection refused');
    socket.end(
      `HTTP/1.1 ${status} ${HTTP_REASONS[status] ?? 'Refused'}\r\nconnection: close\r\ncontent-type: text/plain\r\nx-peerlane-reason: ${reason}\r\n\r\n${reason}\n`,
    );
    socket.destroy();
  }
}
