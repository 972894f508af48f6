import type { NatKind } from '../protocol/signaling-messages';

/**
 * Whether two peers can meet directly, from the NAT kinds they reported. Pure. Conservative where
 * it cannot know: a symmetric NAT gives the other side a port it cannot predict, so it meets only an
 * open peer directly; a peer whose UDP is blocked meets no one directly. `unknown` is given the
 * benefit of the doubt (ICE still falls back to a relay when one is configured).
 */
export function directPossible(a: NatKind, b: NatKind): boolean {
  if (a === 'blocked' || b === 'blocked') return false;
  if (a === 'symmetric') return b === 'open' || b === 'unknown';
  if (b === 'symmetric') return a === 'open' || a === 'unknown';
  return true;
}
