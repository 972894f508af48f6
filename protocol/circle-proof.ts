/**
 * Circles, the part both sides share (no Node or browser import). A circle is an Ed25519 key pair
 * its owner keeps; the circle's id is its public key (raw, base64url). The owner signs:
 * - a membership credential per invite (`memberProofText`): what an invite link carries. It is a
 *   bearer credential: whoever holds the link is a member until the owner revokes that invite, which
 *   is why the owner makes one invite per person;
 * - a revocation list (`revocationProofText`): the invites no longer valid, with a version that only
 *   grows. Anyone may carry a list (signaling, every member), nobody but the owner can make one, and a
 *   newer version replaces an older: so revocations survive a signaling restart while the owner is
 *   offline (members and exits hand the list back at registration).
 * Signaling checks both with node:crypto (`circles.ts`), the extension with WebCrypto (`core/circles/`).
 */
export const CIRCLE_KEY_CHARS = 43; // 32 bytes, base64url without padding
export const MAX_CIRCLES_PER_PEER = 16;
export const MAX_REVOKED_PER_CIRCLE = 256;
export const MAX_CIRCLE_NAME = 64;

export interface MemberCredential {
  /** The circle's public key: its id. */
  circle: string;
  /** The circle's name, as its owner wrote it (signed: a holder cannot rename it). */
  name: string;
  /** This invite's id: what a revocation names. */
  invite: string;
  signature: string;
}

export interface RevocationList {
  circle: string;
  /** Grows with every list the owner signs; a list replaces any of a lower version. */
  version: number;
  revoked: string[];
  signature: string;
}

/** Why signaling refuses a member credential. */
export const circleRefusalReasons = ['revoked', 'bad_signature'] as const;
export type CircleRefusalReason = (typeof circleRefusalReasons)[number];

/** Whom an exit serves: anyone, only requesters in one of its circles, or anyone with its circles' members introduced to it first. */
export const shareWithValues = ['everyone', 'circles', 'both'] as const;
export type ShareWith = (typeof shareWithValues)[number];

export function memberProofText(credential: Pick<MemberCredential, 'circle' | 'invite' | 'name'>): string {
  return `peerlane-circle-member\n${credential.circle}\n${credential.invite}\n${credential.name}`;
}

export function revocationProofText(list: Pick<RevocationList, 'circle' | 'version' | 'revoked'>): string {
  return `peerlane-circle-revoked\n${list.circle}\n${list.version}\n${list.revoked.join('\n')}`;
}

/** Of two lists for one circle (both already verified), the one that stands. */
export function newerRevocations<T extends Pick<RevocationList, 'version'>>(current: T | undefined, candidate: T): T {
  return current && current.version >= candidate.version ? current : candidate;
}
