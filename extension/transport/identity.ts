import { registrationProofText, toBase64Url } from '../../protocol/identity-proof';

/**
 * This install's identity for signaling (`protocol/identity-proof.ts`): an Ed25519 key pair
 * made once and kept in IndexedDB, which the transport's context can reach (Chrome's offscreen
 * document has no extension storage API; Firefox's background page has both). The private key is
 * not extractable: it signs here and never leaves the browser. The peer id signaling derives from
 * the public key therefore survives reconnects, signaling restarts and browser restarts.
 */
export interface Identity {
  /** Raw public key, base64url. */
  publicKey: string;
  /** Proves possession to the server at `host` for its `nonce`. */
  prove(host: string, nonce: string): Promise<string>;
}

const DATABASE = 'peerlane-identity';
const STORE = 'keys';
const KEY = 'signing';

let loading: Promise<Identity> | null = null;

/** One load per context: concurrent callers share it, so two keys are never made. */
export function loadIdentity(): Promise<Identity> {
  loading ??= load().catch((error: unknown) => {
    loading = null;
    throw error;
  });
  return loading;
}

async function load(): Promise<Identity> {
  const database = await open();
  try {
    let pair = await read(database);
    if (!pair) {
      pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
      // add(), not put(): if another context stored one first, theirs wins and we read it back.
      const stored = await write(database, pair);
      if (!stored) pair = (await read(database)) ?? pair;
    }
    const keys = pair;
    const publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey)));
    return {
      publicKey,
      prove: async (host, nonce) =>
        toBase64Url(
          new Uint8Array(
            await crypto.subtle.sign(
              { name: 'Ed25519' },
              keys.privateKey,
              new TextEncoder().encode(registrationProofText(host, nonce)),
            ),
          ),
        ),
    };
  } finally {
    database.close();
  }
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('cannot open the identity store'));
  });
}

function read(database: IDBDatabase): Promise<CryptoKeyPair | null> {
  return new Promise((resolve, reject) => {
    const request = database.transaction(STORE, 'readonly').objectStore(STORE).get(KEY);
    request.onsuccess = () => {
      const value = request.result as Partial<CryptoKeyPair> | undefined;
      resolve(value?.privateKey && value.publicKey ? (value as CryptoKeyPair) : null);
    };
    request.onerror = () => reject(request.error ?? new Error('cannot read the identity'));
  });
}

/** False when a key pair was already stored (another context won the race). */
function write(database: IDBDatabase, pair: CryptoKeyPair): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(STORE, 'readwrite');
    const request = transaction.objectStore(STORE).add({ publicKey: pair.publicKey, privateKey: pair.privateKey }, KEY);
    request.onerror = (event) => {
      if (request.error?.name === 'ConstraintError') {
        event.preventDefault();
        resolve(false);
      }
    };
    transaction.oncomplete = () => resolve(true);
    transaction.onerror = () => reject(transaction.error ?? new Error('cannot store the identity'));
  });
}
