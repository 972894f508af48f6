import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  integrityMatches,
  strongestIntegrity,
  withIntegrity,
  type IntegritySink,
} from '../../extension/core/http/integrity';
import type { PeerlaneError } from '../../extension/core/errors';

const digest = (algorithm: string, body: string) => createHash(algorithm).update(body).digest('base64');

describe('Subresource Integrity metadata', () => {
  it('compares against the strongest algorithm named, any of its digests', () => {
    const metadata = `sha256-${digest('sha256', 'other')} sha384-${digest('sha384', 'body')} sha384-${digest('sha384', 'alt')}`;
    const strongest = strongestIntegrity(metadata)!;
    expect(strongest.algorithm).toBe('sha384');
    expect(integrityMatches(strongest, digest('sha384', 'body'))).toBe(true);
    expect(integrityMatches(strongest, digest('sha384', 'alt'))).toBe(true);
    // The weaker algorithm's digest is not consulted.
    expect(integrityMatches(strongest, digest('sha256', 'other'))).toBe(false);
  });

  it('ignores unknown algorithms and options; names nothing known: no check', () => {
    expect(strongestIntegrity('md5-abc sha1-xyz')).toBeNull();
    expect(strongestIntegrity('')).toBeNull();
    const withOption = strongestIntegrity(`sha512-${digest('sha512', 'x')}?ct=text/plain md5-zzz`)!;
    expect(integrityMatches(withOption, digest('sha512', 'x'))).toBe(true);
  });

  it('takes base64url and unpadded digests as the browser does', () => {
    const standard = digest('sha256', 'padded?');
    const url = standard.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(integrityMatches(strongestIntegrity(`sha256-${url}`)!, standard)).toBe(true);
  });
});

describe('a response checked for integrity before the page sees any of it', () => {
  const nodeDigest = async (algorithm: string, bytes: Uint8Array) =>
    createHash(algorithm).update(bytes).digest('base64');
  function recorder() {
    const seen: string[] = [];
    const sink: IntegritySink<string> = {
      head: (head) => seen.push(`head ${head}`),
      chunk: async (bytes) => (seen.push(`chunk ${Buffer.from(bytes).toString()}`), true),
      end: () => seen.push('end'),
      error: (error: PeerlaneError) => seen.push(`error ${error.category}`),
    };
    return { seen, sink };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('passes head, the whole body and end only after the body matched', async () => {
    const { seen, sink } = recorder();
    const checked = withIntegrity(sink, `sha256-${digest('sha256', 'hello world')}`, nodeDigest);
    checked.head('200');
    await checked.chunk(new TextEncoder().encode('hello '));
    await checked.chunk(new TextEncoder().encode('world'));
    expect(seen).toEqual([]);
    checked.end();
    await settle();
    expect(seen).toEqual(['head 200', 'chunk hello world', 'end']);
  });

  it('a body that does not match reaches the page as integrity_mismatch, nothing of it shown', async () => {
    const { seen, sink } = recorder();
    const checked = withIntegrity(sink, `sha256-${digest('sha256', 'expected')}`, nodeDigest);
    checked.head('200');
    await checked.chunk(new TextEncoder().encode('tampered'));
    checked.end();
    await settle();
    expect(seen).toEqual(['error integrity_mismatch']);
  });

  it('metadata naming no known algorithm leaves the sink as it was', () => {
    const { sink } = recorder();
    expect(withIntegrity(sink, 'md5-x', nodeDigest)).toBe(sink);
  });
});
