/**
 * Sizes both ends of a channel agree on, in a module of their own so that content scripts can
 * import them without the frame schemas.
 */
/** The largest request body a session carries (the queue admits at most this much in all, too). */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024;

/** Bounds on a request's fields, the same on every channel that carries one. */
export const MAX_METHOD_CHARS = 16;
export const MAX_URL_CHARS = 8192;
export const MAX_INTEGRITY_CHARS = 4096;
export const MAX_ORIGIN_CHARS = 512;
export const MAX_HEADERS = 200;
export const MAX_HEADER_NAME_CHARS = 256;
export const MAX_HEADER_VALUE_CHARS = 8192;
