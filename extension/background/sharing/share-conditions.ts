import type { DeviceState, PauseReason } from '../../core/exit/share-when';
import { BrowsingActivity, pauseReason } from '../../core/exit/share-when';
import { exitCapsFrom } from '../../core/settings';
import { Changes } from '../changes';
import type { Configuration } from '../configuration/configuration';
import type { BackgroundPlatform } from '../platform/platform';
import type { Telemetry } from '../telemetry/telemetry';

/**
 * Sharing that follows the sharer's life (`core/exit/share-when.ts` decides): this watches what the
 * rules read (the hour, the bytes served, the device the transport reports, the person's own
 * browsing) and tells the configuration when a condition pauses the exit, so signaling stops
 * introducing it and new requests are refused; and it says when the exit backs off for browsing.
 */
const EVALUATE_EVERY_MS = 1_000;

export class ShareConditions {
  readonly changes = new Changes();
  private device: DeviceState = { onBattery: null, metered: null };
  private readonly browsing = new BrowsingActivity();
  private reason: PauseReason | null = null;
  private backingOff = false;

  constructor(
    private readonly platform: BackgroundPlatform,
    private readonly configuration: Configuration,
    private readonly telemetry: Telemetry,
  ) {
    platform.onOwnBrowsing(() => {
      this.browsing.saw(platform.now());
      if (!this.backingOff) this.evaluate();
    });
    // The hour and the bytes served move on their own: checked every second (a pure function, no I/O).
    platform.every(EVALUATE_EVERY_MS, () => this.evaluate());
    configuration.changes.on(() => this.evaluate());
  }

  /** Why the exit is paused now (the person's own pause included), or null while it may serve. */
  get pauseReason(): PauseReason | null {
    return this.reason;
  }

  /** Serving at a quarter of the bandwidth cap while the sharer browses. */
  get yielding(): boolean {
    return this.backingOff;
  }

  get deviceState(): DeviceState {
    return this.device;
  }

  deviceChanged(device: DeviceState): void {
    if (device.onBattery === this.device.onBattery && device.metered === this.device.metered) return;
    this.device = device;
    this.evaluate();
  }

  evaluate(): void {
    const { settings } = this.configuration;
    const caps = exitCapsFrom(settings.exitCaps);
    const now = new Date(this.platform.now());
    const reason = pauseReason({
      paused: settings.sharePaused,
      when: settings.shareWhen,
      quotas: { dailyBytes: caps.dailyBytes, monthlyBytes: caps.monthlyBytes },
      usage: { today: this.telemetry.sharedToday(), thisMonth: this.telemetry.sharedThisMonth() },
      device: this.device,
      at: { day: now.getDay(), hour: now.getHours() },
    });
    const backingOff =
      settings.shareWhen.yieldToBrowsing && reason === null && this.browsing.active(this.platform.now());
    if (reason === this.reason && backingOff === this.backingOff) return;
    this.reason = reason;
    this.backingOff = backingOff;
    // The person's own pause is already in the settings; the configuration needs only the others.
    this.configuration.setConditionPause(reason === 'paused' ? null : reason);
    this.changes.emit();
  }
}
