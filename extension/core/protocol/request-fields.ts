/** Fields of a routed request's head that content scripts fill, apart from frames.ts so they take them without a schema library. */

/** A request's redirect mode, as fetch() has it. */
export const REDIRECT_MODES = ['follow', 'manual', 'error'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];
/** The page's `Request.cache`, as the Fetch standard names the modes (the routed cache follows it: core/http/routed-cache.ts). */
export const CACHE_MODES = ['default', 'no-store', 'reload', 'no-cache', 'force-cache', 'only-if-cached'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

/** A serialised origin (what an `Origin` header carries): `null`, or scheme, host and port. */
export const SERIALIZED_ORIGIN = /^(null|https?:\/\/[^/\s?#]+)$/;
