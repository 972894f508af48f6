import { createPrivateKey, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { registrationProofText } from '../../protocol/identity-proof';
import { peerIdOf } from '../../signaling-server/identity';
import type { CirclesState } from '../../protocol/signaling-messages';

/**
 * A client identity as the extension keeps one (Ed25519), for Node test clients and the load generator.
 * Both keys come out of generation already encoded and the private one is imported afresh: Node 20
 * can deadlock using a generated KeyObject (exporting it, here) when the collector finalises its
 * key-generation job meanwhile, both wanting the key's mutex (seen in the bench: the main thread
 * stuck in ExportJWKEdKey under ~KeyGenJob). An imported key shares nothing with the job.
 */
export class SigningIdentity {
  readonly publicKey: string;
  readonly peerId: string;
  private readonly privateKey: KeyObject;

  constructor() {
    // (@types/node has no overload for JWK encodings; Node returns JWK objects for them.)
    const pair = generateKeyPairSync('ed25519', {
      publicKeyEncoding: { format: 'jwk' },
      privateKeyEncoding: { format: 'jwk' },
    } as never) as unknown as { publicKey: JsonWebKey; privateKey: JsonWebKey };
    this.privateKey = createPrivateKey({ key: pair.privateKey, format: 'jwk' });
    this.publicKey = String(pair.publicKey.x);
    this.peerId = peerIdOf(Buffer.from(this.publicKey, 'base64url'));
  }

  prove(host: string, nonce: string): string {
    return sign(null, Buffer.from(registrationProofText(host, nonce)), this.privateKey).toString('base64url');
  }

  /** The `register` message for a server at `host` that challenged with `nonce`. */
  register(
    host: string,
    nonce: string,
    fields: { exit: boolean; capacity: number; load: number; nat?: string; circles?: CirclesState },
  ): string {
    return JSON.stringify({
      type: 'register',
      protocol: 2,
      publicKey: this.publicKey,
      signature: this.prove(host, nonce),
      nat: 'unknown',
      ...fields,
    });
  }
}
