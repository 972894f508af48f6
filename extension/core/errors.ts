/**
 * One error shape for the whole product: queue, exit, transport, UI and stats all switch on `category`.
 * Categories are stable strings (like simple-peer's `code`): tests and the popup depend on them.
 */
export const ERROR_CATEGORIES = [
  'queue_full',
  'timeout',
  'attempt_timeout',
  'background_restarted',
  'cancelled',
  'no_peers',
  'peer_lost',
  'destination_refused',
  'method_refused',
  'sharing_off',
  'exit_fetch_failed',
  'too_many_redirects',
  'exit_cap_size',
  'exit_cap_concurrency',
  'exit_cap_quota',
  'exit_busy',
  'frame_truncated',
  'frame_oversize',
  'frame_unknown_type',
  'frame_version',
  'frame_malformed',
  'protocol_error',
  'bad_message',
  'internal',
] as const;

export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

export function isErrorCategory(value: unknown): value is ErrorCategory {
  return typeof value === 'string' && (ERROR_CATEGORIES as readonly string[]).includes(value);
}

export class PeerlaneError extends Error {
  readonly category: ErrorCategory;

  constructor(category: ErrorCategory, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PeerlaneError';
    this.category = category;
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
