import { joinBytes } from '../bytes';
import { PeerlaneError } from '../errors';
/**
 * Subresource Integrity metadata (https://w3c.github.io/webappsec-subresource-integrity/, "parse
 * metadata", "get the strongest metadata"), for the page hook: a routed fetch with `integrity`
 * is checked as the browser checks it. Pure; the hook hashes with crypto.subtle.
 */
export type IntegrityAlgorithm = 'sha256' | 'sha384' | 'sha512';
const STRENGTH: Record<IntegrityAlgorithm, number> = { sha256: 1, sha384: 2, sha512: 3 };
export const SUBTLE_NAMES: Record<IntegrityAlgorithm, string> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
};

/**
 * The digests to compare against: those of the strongest algorithm the metadata names, or null when
 * it names none the standard knows (then any body matches, as in the browser).
 */
export function strongestIntegrity(metadata: string): { algorithm: IntegrityAlgorithm; digests: string[] } | null {
  let best: { algorithm: IntegrityAlgorithm; digests: string[] } | null = null;
  for (const token of metadata.split(/\s+/)) {
    const match = /^(sha256|sha384|sha512)-([A-Za-z0-9+/_-]+={0,2})(?:\?.*)?$/.exec(token);
    if (!match) continue;
    const algorithm = match[1] as IntegrityAlgorithm;
    // Base64url is accepted as base64, as browsers do.
    const digest = match[2]!.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    if (!best || STRENGTH[algorithm] > STRENGTH[best.algorithm]) best = { algorithm, digests: [digest] };
    else if (algorithm === best.algorithm) best.digests.push(digest);
  }
  return best;
}

/** Whether a body's digest (base64, from the strongest algorithm) is one the metadata allows. */
export function integrityMatches(expected: { digests: string[] }, actualBase64: string): boolean {
  return expected.digests.includes(actualBase64.replace(/=+$/, ''));
}

/** What a response goes to (the requester's ResponseSink, structurally). */
export interface IntegritySink<Head> {
  head(head: Head): void;
  chunk(bytes: Uint8Array): Promise<boolean>;
  end(): void;
  error(error: PeerlaneError): void;
  uploaded?(bytes: number): void;
}

/**
 * A sink that passes a response on only once its whole body matched `metadata`, as the browser
 * resolves a fetch with `integrity` only then; a mismatch is `integrity_mismatch` and the page sees
 * nothing of the body. The body is held whole meanwhile: bounded by the exit's response cap.
 * `digest` gives the base64 digest of bytes (crypto.subtle where the sink runs).
 */
export function withIntegrity<Head>(
  sink: IntegritySink<Head>,
  metadata: string,
  digest: (algorithm: IntegrityAlgorithm, bytes: Uint8Array) => Promise<string>,
): IntegritySink<Head> {
  const expected = strongestIntegrity(metadata);
  if (!expected) return sink;
  let head: Head | null = null;
  const parts: Uint8Array[] = [];
  let failed = false;
  return {
    head: (value) => {
      head = value;
    },
    chunk: async (bytes) => {
      parts.push(bytes);
      return !failed;
    },
    end: () => {
      const whole = joinBytes(parts);
      void digest(expected.algorithm, whole).then(
        async (actual) => {
          if (!integrityMatches(expected, actual)) {
            failed = true;
            sink.error(
              new PeerlaneError(
                'integrity_mismatch',
                `the body's ${expected.algorithm} digest is not one the request's integrity allows`,
              ),
            );
            return;
          }
          sink.head(head!);
          if (whole.byteLength === 0 || (await sink.chunk(whole))) sink.end();
        },
        (error: unknown) =>
          sink.error(new PeerlaneError('internal', `integrity could not be checked: ${String(error)}`)),
      );
    },
    error: (error) => sink.error(error),
    // Upload progress concerns the request, not the body being checked: passed straight on.
    ...(sink.uploaded ? { uploaded: sink.uploaded.bind(sink) } : {}),
  };
}
