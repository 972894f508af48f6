import type { DeviceState } from '../core/exit/share-when';

/**
 * What the browser tells of the device, for sharing that pauses on battery or a metered link. Read
 * where the transport runs: a document (Chrome's offscreen page, Firefox's background page), since
 * the Battery Status API is not exposed to workers. Chromium has `navigator.getBattery` and
 * `navigator.connection` (`saveData`, `type`); Firefox exposes neither to extensions, so there both
 * stay null ("the browser does not tell") and never pause sharing.
 */
interface BatteryLike extends EventTarget {
  charging: boolean;
}
interface ConnectionLike extends EventTarget {
  saveData?: boolean;
  type?: string;
}

export function watchDevice(report: (device: DeviceState) => void): void {
  const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike>; connection?: ConnectionLike };
  let state: DeviceState = { onBattery: null, metered: null };
  const update = (change: Partial<DeviceState>): void => {
    state = { ...state, ...change };
    report(state);
  };
  const connection = nav.connection;
  if (connection) {
    const read = (): boolean => connection.saveData === true || connection.type === 'cellular';
    update({ metered: read() });
    connection.addEventListener('change', () => update({ metered: read() }));
  }
  void nav
    .getBattery?.()
    .then((battery) => {
      update({ onBattery: !battery.charging });
      battery.addEventListener('chargingchange', () => update({ onBattery: !battery.charging }));
    })
    .catch(() => undefined);
}
