import { describe, expect, it } from 'vitest';
import { ExitCaps, MB } from '../../extension/core/exit/caps';
import {
  ALL_DAY,
  BrowsingActivity,
  EVERY_HOUR,
  hourAllowed,
  pauseReason,
  QUOTA_SLACK_BYTES,
  type ShareInputs,
} from '../../extension/core/exit/share-when';
import { DEFAULT_SETTINGS, parseSettings } from '../../extension/core/settings';
import { FakeClock } from '../helpers/fake-clock';

/** Sharing that follows the sharer's life: the pure rules, with fixed hours, bytes and device facts. */
const inputs = (overrides: Partial<ShareInputs> = {}): ShareInputs => ({
  paused: false,
  when: { weekHours: [...EVERY_HOUR], pauseOnBattery: true, pauseOnMetered: true, yieldToBrowsing: true },
  quotas: { dailyBytes: 1_000_000, monthlyBytes: 10_000_000 },
  usage: { today: 0, thisMonth: 0 },
  device: { onBattery: false, metered: false },
  at: { day: 3, hour: 14 },
  ...overrides,
});

describe('when an exit shares', () => {
  it("shares by default, and each condition pauses it under its own name, the person's pause first", () => {
    expect(pauseReason(inputs())).toBeNull();
    expect(pauseReason(inputs({ paused: true, usage: { today: 5_000_000, thisMonth: 50_000_000 } }))).toBe('paused');
    expect(pauseReason(inputs({ usage: { today: 1_000_000, thisMonth: 1_000_000 } }))).toBe('daily_quota');
    expect(pauseReason(inputs({ usage: { today: 10, thisMonth: 10_000_000 } }))).toBe('monthly_quota');
    // Less than one chunk left is used up (the caps stop a response just short of the quota).
    expect(pauseReason(inputs({ usage: { today: 1_000_000 - QUOTA_SLACK_BYTES + 1, thisMonth: 0 } }))).toBe(
      'daily_quota',
    );
    expect(pauseReason(inputs({ usage: { today: 1_000_000 - QUOTA_SLACK_BYTES, thisMonth: 0 } }))).toBeNull();
    expect(pauseReason(inputs({ device: { onBattery: true, metered: false } }))).toBe('battery');
    expect(pauseReason(inputs({ device: { onBattery: false, metered: true } }))).toBe('metered');
  });

  it('a browser that does not tell (null) never pauses, and a person may share on battery or a metered link', () => {
    expect(pauseReason(inputs({ device: { onBattery: null, metered: null } }))).toBeNull();
    const anyway = inputs({
      when: { weekHours: [...EVERY_HOUR], pauseOnBattery: false, pauseOnMetered: false, yieldToBrowsing: true },
      device: { onBattery: true, metered: true },
    });
    expect(pauseReason(anyway)).toBeNull();
  });

  it('hours of the week: a bit per hour, Sunday first, outside them it pauses as "schedule"', () => {
    const weekdaysNineToFive = [0, ...Array.from({ length: 5 }, () => 0b1111_1111 << 9), 0];
    expect(hourAllowed(weekdaysNineToFive, 1, 9)).toBe(true);
    expect(hourAllowed(weekdaysNineToFive, 1, 16)).toBe(true);
    expect(hourAllowed(weekdaysNineToFive, 1, 17)).toBe(false);
    expect(hourAllowed(weekdaysNineToFive, 0, 12)).toBe(false);
    expect(hourAllowed(weekdaysNineToFive, 6, 12)).toBe(false);
    const when = { weekHours: weekdaysNineToFive, pauseOnBattery: true, pauseOnMetered: true, yieldToBrowsing: true };
    expect(pauseReason(inputs({ when, at: { day: 2, hour: 10 } }))).toBeNull();
    expect(pauseReason(inputs({ when, at: { day: 2, hour: 20 } }))).toBe('schedule');
    expect(pauseReason(inputs({ when, at: { day: 6, hour: 10 } }))).toBe('schedule');
    expect(hourAllowed([ALL_DAY], 0, 23)).toBe(true);
  });

  it("browsing counts as active for 5 s after the sharer's last request", () => {
    const activity = new BrowsingActivity();
    expect(activity.active(0)).toBe(false);
    activity.saw(1000);
    expect(activity.active(1000)).toBe(true);
    expect(activity.active(5999)).toBe(true);
    expect(activity.active(6000)).toBe(false);
    expect(activity.quietAt()).toBe(6000);
  });
});

describe('the monthly quota', () => {
  it("refuses a new request once the month's bytes are spent, and cuts a body that would pass it", async () => {
    let month = 0;
    const limits = {
      maxResponseBytes: 25 * MB,
      maxConcurrent: 6,
      bytesPerSecond: 100 * MB,
      dailyBytes: 1000 * MB,
      monthlyBytes: 5 * MB,
    };
    const exit = new ExitCaps(
      new FakeClock(),
      () => limits,
      () => 0,
      () => month,
    );
    expect(exit.admit('a')).toBeNull();
    exit.release('a');
    await expect(exit.beforeSend('a', 0, 6 * MB, new AbortController().signal)).rejects.toMatchObject({
      category: 'exit_cap_quota',
      message: /monthly quota/,
    });
    month = 5 * MB;
    expect(exit.admit('a')).toMatchObject({ category: 'exit_cap_quota', message: /monthly quota/ });
  });

  it('settings stored before the monthly quota keep their caps and get the default monthly one', () => {
    const stored = { exitCaps: { maxResponseMB: 5, maxConcurrent: 2, rateMBps: 1, dailyGB: 3 } };
    expect(parseSettings(stored).exitCaps).toEqual({
      maxResponseMB: 5,
      maxConcurrent: 2,
      rateMBps: 1,
      dailyGB: 3,
      monthlyGB: DEFAULT_SETTINGS.exitCaps.monthlyGB,
    });
    expect(parseSettings({}).shareWhen).toEqual(DEFAULT_SETTINGS.shareWhen);
  });
});
