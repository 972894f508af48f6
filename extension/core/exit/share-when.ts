/**
 * When a sharer's exit serves: sharing that follows the person's life. Pure: the hour, the bytes
 * served and what the device says are inputs, so every rule is tested with fixed values.
 *
 * Pauses (the exit is offered to no one and refuses new requests with `sharing_off`), first match
 * wins, each shown in the popup's Sharing tab as the reason:
 *   paused by the person · outside the hours of the week they chose · daily quota · monthly quota ·
 *   on battery · on a metered or data-saver connection (where the browser tells; null: it does not).
 * Backing off (not a pause): while the sharer's own tabs are using the network, the exit's bandwidth
 * drops to a quarter of its cap, so their browsing comes first.
 */
export const pauseReasons = ['paused', 'schedule', 'daily_quota', 'monthly_quota', 'battery', 'metered'] as const;
export type PauseReason = (typeof pauseReasons)[number];

/** Hours of each day (Sunday first, as `Date.getDay`), a bit per hour: bit h set means sharing from h:00 to h:59. */
export const ALL_DAY = 0xff_ffff;
export const EVERY_HOUR: readonly number[] = Object.freeze([
  ALL_DAY,
  ALL_DAY,
  ALL_DAY,
  ALL_DAY,
  ALL_DAY,
  ALL_DAY,
  ALL_DAY,
]);
/** 18:00–07:59 on weekdays, all day Saturday and Sunday. */
const NIGHTS = 0xff_ffff & ~(0x3ff << 8);
export const NIGHTS_AND_WEEKENDS: readonly number[] = Object.freeze([
  ALL_DAY,
  NIGHTS,
  NIGHTS,
  NIGHTS,
  NIGHTS,
  NIGHTS,
  ALL_DAY,
]);
/** While browsing, the share of the bandwidth cap the exit keeps. */
export const BACK_OFF_SHARE = 0.25;
/** The sharer's own traffic counts as "browsing" this long after its last request. */
export const BROWSING_WINDOW_MS = 5_000;

export interface ShareWhen {
  weekHours: number[];
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  yieldToBrowsing: boolean;
}

/** What the browser tells of the device; null where it does not (Firefox has neither). */
export interface DeviceState {
  onBattery: boolean | null;
  metered: boolean | null;
}

export interface ShareInputs {
  paused: boolean;
  when: ShareWhen;
  quotas: { dailyBytes: number; monthlyBytes: number };
  usage: { today: number; thisMonth: number };
  device: DeviceState;
  /** Local day of the week (0 = Sunday) and hour (0–23). */
  at: { day: number; hour: number };
}

export function hourAllowed(weekHours: readonly number[], day: number, hour: number): boolean {
  return (((weekHours[day] ?? ALL_DAY) >>> hour) & 1) === 1;
}

/**
 * A quota with less than this left counts as used up: the caps cut a response before the chunk that
 * would pass the quota (chunks are at most 64 KiB), so the bytes served stop just short of it.
 */
export const QUOTA_SLACK_BYTES = 64 * 1024;

export function pauseReason(inputs: ShareInputs): PauseReason | null {
  if (inputs.paused) return 'paused';
  if (!hourAllowed(inputs.when.weekHours, inputs.at.day, inputs.at.hour)) return 'schedule';
  if (inputs.usage.today + QUOTA_SLACK_BYTES > inputs.quotas.dailyBytes) return 'daily_quota';
  if (inputs.usage.thisMonth + QUOTA_SLACK_BYTES > inputs.quotas.monthlyBytes) return 'monthly_quota';
  if (inputs.when.pauseOnBattery && inputs.device.onBattery === true) return 'battery';
  if (inputs.when.pauseOnMetered && inputs.device.metered === true) return 'metered';
  return null;
}

/** The sharer's own browsing, seen request by request (the host counts only its tabs' requests). */
export class BrowsingActivity {
  private lastSeen = -Infinity;

  constructor(private readonly windowMs = BROWSING_WINDOW_MS) {}

  saw(now: number): void {
    this.lastSeen = now;
  }

  active(now: number): boolean {
    return now - this.lastSeen < this.windowMs;
  }

  /** When `active` turns false if nothing more is seen. */
  quietAt(): number {
    return this.lastSeen + this.windowMs;
  }
}
