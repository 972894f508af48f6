/** Fields of a routed request's head that content scripts fill, apart from frames.ts so they take them without a schema library. */

/** A request's redirect mode, as fetch() has it. */
export const REDIRECT_MODES = ['follow', 'manual', 'error'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];

/** A serialised origin (what an `Origin` header carries): `null`, or scheme, host and port. */
export const SERIALIZED_ORIGIN = /^(null|https?:\/\/[^/\s?#]+)$/;
