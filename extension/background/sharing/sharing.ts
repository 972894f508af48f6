import { PeerlaneError, isRefusal } from '../../core/errors';
import { ExitCaps } from '../../core/exit/caps';
import { createExitHandler, type ExitFetcher } from '../../core/exit/exit-service';
import type { ExitHandler } from '../../core/peers/session';
import { exitCapsFrom } from '../../core/settings';
import { displayUrl } from '../../core/stats/request-log';
import { Changes } from '../changes';
import type { Configuration } from '../configuration/configuration';
import type { BackgroundPlatform } from '../platform/platform';
import { shortPeerId } from '../peers/peer-registry';
import type { Telemetry } from '../telemetry/telemetry';
import { BACK_OFF_SHARE } from '../../core/exit/share-when';
import type { ShareConditions } from './share-conditions';

/**
 * The exit side: what this browser serves to requester peers when its person shares the connection.
 * Policy, caps and the fetch are `core/exit`'s and the host's fetcher; this wires them to the
 * settings, counts what was shared and refused, and logs every request served.
 */
export class Sharing {
  /** Shared by every requester's session: the caps are per exit, not per connection. */
  private readonly caps: ExitCaps;
  private streams = 0;
  readonly changes = new Changes();

  constructor(
    private readonly platform: BackgroundPlatform,
    private readonly configuration: Configuration,
    private readonly telemetry: Telemetry,
    private readonly fetcher: ExitFetcher,
    conditions: ShareConditions,
  ) {
    const caps = () => {
      const options = exitCapsFrom(configuration.settings.exitCaps);
      // The sharer's own browsing comes first: a quarter of the bandwidth while it goes on.
      return conditions.yielding
        ? { ...options, bytesPerSecond: Math.round(options.bytesPerSecond * BACK_OFF_SHARE) }
        : options;
    };
    this.caps = new ExitCaps(
      platform.clock,
      caps,
      () => telemetry.sharedToday(),
      () => telemetry.sharedThisMonth(),
    );
  }

  /** Requests being served now. */
  get activeStreams(): number {
    return this.streams;
  }

  handlerFor(peerId: string): ExitHandler {
    const { telemetry, platform } = this;
    const serve = createExitHandler(
      this.fetcher,
      () => this.configuration.exitPolicy(),
      {
        bytesSent: (bytes) => telemetry.shared(bytes),
        finished: (request, outcome) => {
          const category = outcome.error?.category;
          if (!category) telemetry.count('sharedRequests');
          else if (isRefusal(category)) telemetry.exitRefused(category);
          telemetry.logRequest({
            id: request.correlationId ?? '-',
            at: platform.now(),
            role: 'exit',
            method: request.method.slice(0, 16),
            url: displayUrl(request.url),
            peer: shortPeerId(peerId),
            priority: null,
            outcome: category ?? 'ok',
            status: outcome.status,
            attempts: 1,
            hedged: false,
            hedgeWon: null,
            resumed: 0,
            queueWaitMs: null,
            ttfbMs: null,
            transferMs: null,
            totalMs: 0,
            bytes: outcome.bytes,
          });
        },
      },
      this.caps,
      peerId,
    );
    return (request, responder, signal, body) => {
      const reason = this.configuration.notSharingReason;
      if (reason !== null) {
        const error = new PeerlaneError('sharing_off', `this peer ${reason}`);
        telemetry.exitRefused(error.category);
        responder.error(error);
        return;
      }
      this.streams += 1;
      this.changes.emit();
      signal.addEventListener('abort', () => {
        this.streams -= 1;
        this.changes.emit();
      });
      return serve(request, responder, signal, body);
    };
  }
}
