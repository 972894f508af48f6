import type { Clock } from '../core/clock';
import type { PopupState, ToPopup } from '../core/channels/popup-channel';
import type { TypedPort } from './channels/typed-port';

/** Pushes the popup's state to every open popup, at most 4 times a second; nothing when none is open. */
const PUSH_INTERVAL_MS = 250;

export class StatePublisher {
  private readonly ports = new Set<TypedPort<never, ToPopup>>();
  private timer: unknown = null;

  constructor(
    private readonly clock: Clock,
    private readonly compose: () => PopupState,
  ) {}

  add(port: TypedPort<never, ToPopup>): void {
    this.ports.add(port);
    port.onDisconnect(() => this.ports.delete(port));
    this.push(port);
  }

  /** Something visible moved: schedule a push. */
  changed(): void {
    if (this.timer !== null || this.ports.size === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      for (const port of this.ports) this.push(port);
    }, PUSH_INTERVAL_MS);
  }

  private push(port: TypedPort<never, ToPopup>): void {
    if (!port.post({ type: 'state', state: this.compose() })) this.ports.delete(port);
  }
}
