/**
 * One error shape for the whole product: queue, exit, transport, UI and stats all switch on `category`.
 * Categories are stable strings (like simple-peer's `code`): tests and the popup depend on them.
 *
 * `ERROR_TABLE` is the one place a category's meaning is decided:
 * - `retryable`: another attempt (another exit, a little later) may succeed, so an idempotent
 *   request is retried and a resumable body resumed elsewhere;
 * - `peerFault`: the failure says something about the exit, so the balancer counts it towards ejection;
 * - `refusal`: the exit *would not* (its policy or caps), as opposed to *could not*; counted as refused;
 * - `page`: what a routed page sees. `network-error` rejects its fetch with a TypeError, like an
 *   unreachable server; a status answers with that HTTP response (body: the message, header
 *   `x-peerlane-error: <category>`), so the page can act on it (503 + Retry-After: back off).
 */
export interface ErrorTraits {
  retryable: boolean;
  peerFault: boolean;
  refusal: boolean;
  page: 'network-error' | { status: number; statusText: string; retryAfterSeconds?: number };
}

const fault = (retryable: boolean): ErrorTraits => ({
  retryable,
  peerFault: true,
  refusal: false,
  page: 'network-error',
});
const refusal = (retryable: boolean): ErrorTraits => ({
  retryable,
  peerFault: false,
  refusal: true,
  page: 'network-error',
});
const final: ErrorTraits = { retryable: false, peerFault: false, refusal: false, page: 'network-error' };

export const ERROR_TABLE = {
  queue_full: { ...final, page: { status: 503, statusText: 'Service Unavailable', retryAfterSeconds: 1 } },
  timeout: final,
  attempt_timeout: fault(true),
  background_restarted: final,
  cancelled: final,
  no_peers: final,
  // `only-if-cached` and nothing stored: the browser's own cache fails such a fetch the same way.
  not_cached: final,
  peer_lost: fault(true),
  destination_refused: refusal(false),
  // The destination's name has no address (the exit asked before connecting): the page's own fetch would fail too.
  destination_unresolved: final,
  method_refused: refusal(false),
  sharing_off: fault(true),
  exit_fetch_failed: fault(true),
  too_many_redirects: final,
  // The body's digest is not one the page's `integrity` allows (Subresource Integrity).
  integrity_mismatch: final,
  exit_cap_size: refusal(false),
  // Another exit may have room or quota left.
  exit_cap_concurrency: refusal(true),
  exit_cap_quota: refusal(true),
  exit_busy: fault(true),
  frame_truncated: fault(false),
  frame_oversize: fault(false),
  frame_unknown_type: fault(false),
  frame_version: fault(false),
  frame_malformed: fault(false),
  protocol_error: fault(false),
  bad_message: final,
  internal: final,
} as const satisfies Record<string, ErrorTraits>;

export type ErrorCategory = keyof typeof ERROR_TABLE;

export const ERROR_CATEGORIES = Object.keys(ERROR_TABLE) as [ErrorCategory, ...ErrorCategory[]];

export function isErrorCategory(value: unknown): value is ErrorCategory {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

export function errorTraits(category: ErrorCategory): ErrorTraits {
  return ERROR_TABLE[category];
}

/** Worth another attempt on another peer (idempotent requests only; the queue decides that part). */
export const isRetryable = (category: ErrorCategory): boolean => ERROR_TABLE[category].retryable;
/** Says something about the peer, not about the destination or the page. */
export const isPeerFault = (category: ErrorCategory): boolean => ERROR_TABLE[category].peerFault;
/** The exit would not (policy, caps), as opposed to could not. */
export const isRefusal = (category: ErrorCategory): boolean => ERROR_TABLE[category].refusal;

export class PeerlaneError extends Error {
  readonly category: ErrorCategory;
  /** Raised before any byte of the request left for its peer: another peer may always be tried, whatever the method. */
  readonly unsent: boolean;

  constructor(category: ErrorCategory, message: string, options?: { cause?: unknown; unsent?: boolean }) {
    super(message, options);
    this.name = 'PeerlaneError';
    this.category = category;
    this.unsent = options?.unsent ?? false;
  }

  toJSON(): { category: ErrorCategory; message: string } {
    return { category: this.category, message: this.message };
  }
}

/** Normalises anything thrown into a PeerlaneError so every failure is counted under a category. */
export function toPeerlaneError(error: unknown, fallback: ErrorCategory = 'internal'): PeerlaneError {
  if (error instanceof PeerlaneError) return error;
  if (error instanceof Error) return new PeerlaneError(fallback, error.message, { cause: error });
  return new PeerlaneError(fallback, String(error));
}

/** The message of anything thrown: an Error's own message, or the value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
