import { createHash, createPublicKey, verify } from 'node:crypto';
import { promisify } from 'node:util';
import { peerIdFromDigest, PUBLIC_KEY_BYTES, registrationProofText, SIGNATURE_BYTES } from '../protocol/identity-proof';

/**
 * The server's half of stable identities (`identity-proof.ts`): checks that a registering client
 * holds the private key of the public key it presents, over this connection's nonce and host, and
 * derives its peer id from that key. The verification (about 150 µs of CPU on the test machines)
 * runs on libuv's thread pool, off the event loop.
 */
const verifyAsync = promisify(verify);
export type IdentityVerdict = { ok: true; peerId: string } | { ok: false; reason: 'bad_public_key' | 'bad_signature' };

export function peerIdOf(publicKey: Uint8Array): string {
  return peerIdFromDigest(createHash('sha256').update(publicKey).digest());
}

/** Null for anything that is not canonical unpadded base64url (Node's decoder: a tenth of a pure one's cost, paid on every registration). */
export function fromBase64Url(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

export async function verifyRegistration(
  publicKeyText: string,
  signatureText: string,
  host: string,
  nonce: string,
): Promise<IdentityVerdict> {
  const publicKey = fromBase64Url(publicKeyText);
  if (!publicKey || publicKey.length !== PUBLIC_KEY_BYTES) return { ok: false, reason: 'bad_public_key' };
  const signature = fromBase64Url(signatureText);
  if (!signature || signature.length !== SIGNATURE_BYTES) return { ok: false, reason: 'bad_signature' };
  let key;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKeyText }, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'bad_public_key' };
  }
  const valid = await verifyAsync(null, Buffer.from(registrationProofText(host, nonce)), key, signature);
  return valid ? { ok: true, peerId: peerIdOf(publicKey) } : { ok: false, reason: 'bad_signature' };
}
