/**
 * Stable peer identities, the part both sides share (no Node or browser import): every install keeps
 * an Ed25519 key pair; its peer id is derived from the public key, and registration proves possession
 * by signing the text below, which names the server's host (so a signature made for one server is
 * worthless at another) and a nonce the server chose for this connection (so it cannot be replayed).
 */
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Peer id: the first 16 bytes of SHA-256(public key), base64url (22 characters, 128 bits). */
export const PEER_ID_DIGEST_BYTES = 16;

export function registrationProofText(host: string, nonce: string): string {
  return `peerlane-register\n${host}\n${nonce}`;
}

export function peerIdFromDigest(sha256: Uint8Array): string {
  return toBase64Url(sha256.subarray(0, PEER_ID_DIGEST_BYTES));
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
