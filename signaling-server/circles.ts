import { createPublicKey, verify } from 'node:crypto';
import { promisify } from 'node:util';
import {
  memberProofText,
  newerRevocations,
  revocationProofText,
  type CircleRefusalReason,
  type MemberCredential,
  type RevocationList,
} from '../protocol/circle-proof';
import { fromBase64Url } from './identity';
import type { CirclesState } from '../protocol/signaling-messages';

/**
 * The server's half of circles (`circle-proof.ts`): checks members' credentials and owners'
 * revocation lists with node:crypto (off the event loop, as registrations are), and keeps the newest
 * list of each circle it has seen. A credential is accepted when the circle's key signed it and the
 * newest list does not name its invite.
 */
const verifyAsync = promisify(verify);
/** Signatures already checked: exits re-send their circles on every change, not every refresh, but reconnect storms repeat them. */
const VERIFIED_CACHE_LIMIT = 20_000;

export type CircleRefusal = { circle: string; reason: CircleRefusalReason };
export interface CircleVerdict {
  /** Circle id → invite id, for every credential accepted. */
  member: Map<string, string>;
  /** The credentials accepted, as signed (another node checks them itself: relay.ts). */
  accepted: MemberCredential[];
  refused: CircleRefusal[];
  /** Lists the peer handed in that were newer than the ones known here (already stored). */
  newer: RevocationList[];
}

export class CircleBook {
  private readonly revocations = new Map<string, { list: RevocationList; revoked: Set<string> }>();
  private readonly verified = new Set<string>();

  /** The newest list known for `circle`, if any. */
  listFor(circle: string): RevocationList | undefined {
    return this.revocations.get(circle)?.list;
  }

  isRevoked(circle: string, invite: string): boolean {
    return this.revocations.get(circle)?.revoked.has(invite) ?? false;
  }

  /** Checks a list's signature; stores it and returns true when it is newer than the one known. */
  async offerRevocations(list: RevocationList): Promise<boolean> {
    const current = this.revocations.get(list.circle)?.list;
    if (current && current.version >= list.version) return false;
    if (!(await this.signedBy(list.circle, revocationProofText(list), list.signature))) return false;
    // Checked again after the await: another list may have landed meanwhile.
    if (newerRevocations(this.revocations.get(list.circle)?.list, list) !== list) return false;
    this.revocations.set(list.circle, { list, revoked: new Set(list.revoked) });
    return true;
  }

  /** What a peer says of its circles, judged: its lists first (they may revoke its own credentials), then its credentials. */
  async judge(state: CirclesState): Promise<CircleVerdict> {
    const newer: RevocationList[] = [];
    for (const list of state.revocations) if (await this.offerRevocations(list)) newer.push(list);
    const member = new Map<string, string>();
    const accepted: MemberCredential[] = [];
    const refused: CircleRefusal[] = [];
    for (const credential of state.credentials) {
      if (member.has(credential.circle)) continue;
      if (!(await this.credentialSigned(credential)))
        refused.push({ circle: credential.circle, reason: 'bad_signature' });
      else if (this.isRevoked(credential.circle, credential.invite))
        refused.push({ circle: credential.circle, reason: 'revoked' });
      else {
        member.set(credential.circle, credential.invite);
        accepted.push(credential);
      }
    }
    return { member, accepted, refused, newer };
  }

  private async credentialSigned(credential: MemberCredential): Promise<boolean> {
    // The whole signed text is the key: a signature with another invite or name is another credential.
    const text = memberProofText(credential);
    const key = `${text}\n${credential.signature}`;
    if (this.verified.has(key)) return true;
    const ok = await this.signedBy(credential.circle, text, credential.signature);
    if (ok) {
      if (this.verified.size >= VERIFIED_CACHE_LIMIT) this.verified.clear();
      this.verified.add(key);
    }
    return ok;
  }

  private async signedBy(circle: string, text: string, signatureText: string): Promise<boolean> {
    const signature = fromBase64Url(signatureText);
    if (!signature || signature.length !== 64 || fromBase64Url(circle)?.length !== 32) return false;
    try {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: circle }, format: 'jwk' });
      return await verifyAsync(null, Buffer.from(text), key, signature);
    } catch {
      return false;
    }
  }
}

/** The circles two peers share (ids), for an introduction. */
export function sharedCircles(
  requester: ReadonlyMap<string, string> | null,
  exitCircles: readonly string[] | undefined,
): string[] {
  if (!requester || !exitCircles) return [];
  return exitCircles.filter((circle) => requester.has(circle));
}
