import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { registrationProofText } from '../../signaling-server/identity-proof';
import { peerIdOf } from '../../signaling-server/identity';

/** A client identity as the extension keeps one (Ed25519), for Node test clients and the load generator. */
export class SigningIdentity {
  readonly publicKey: string;
  readonly peerId: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = String(pair.publicKey.export({ format: 'jwk' }).x);
    this.peerId = peerIdOf(Buffer.from(this.publicKey, 'base64url'));
  }

  prove(host: string, nonce: string): string {
    return sign(null, Buffer.from(registrationProofText(host, nonce)), this.privateKey).toString('base64url');
  }

  /** The `register` message for a server at `host` that challenged with `nonce`. */
  register(host: string, nonce: string, fields: { exit: boolean; capacity: number; load: number; nat?: string }): string {
    return JSON.stringify({ type: 'register', protocol: 2, publicKey: this.publicKey, signature: this.prove(host, nonce), nat: 'unknown', ...fields });
  }
}
