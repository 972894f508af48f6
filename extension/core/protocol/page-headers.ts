/**
 * Response headers Peerlane adds to what a routed page or the viewer receives (docs/routing.md's table of
 * deliberate differences lists them): which exit carried the response, and for an answer Peerlane
 * made itself (a full queue's 503, the viewer's refusals), which error category it stands for.
 */
export const PEER_HEADER = 'x-peerlane-peer';
export const ERROR_HEADER = 'x-peerlane-error';

export function isPeerlaneHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === PEER_HEADER || lower === ERROR_HEADER;
}
