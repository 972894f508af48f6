/**
 * Sizes both ends of a channel agree on, in a module of their own so that content scripts can
 * import them without the frame schemas.
 */
/** The largest request body a session carries (the queue admits at most this much in all, too). */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024;
