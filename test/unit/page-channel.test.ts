import { describe, expect, it } from 'vitest';
import { readBridgeMessage, readPageMessage } from '../../extension/core/channels/page-channel';
import { MAX_HEADERS, MAX_URL_CHARS } from '../../extension/core/protocol/limits';

/** The hand-written readers of the page channel: what a page script may post is untrusted. */
const request = {
  type: 'request',
  id: 7,
  method: 'POST',
  url: 'http://origin.test/a',
  headers: [['content-type', 'text/plain']],
  priority: 'interactive',
  body: new ArrayBuffer(3),
  redirect: 'follow',
  integrity: '',
  origin: 'http://app.test',
  cache: 'no-cache',
};

describe('readPageMessage', () => {
  it('keeps a well-formed request, with only its known fields', () => {
    expect(readPageMessage({ ...request, extra: 'dropped' })).toEqual(request);
    expect(readPageMessage({ ...request, body: null, origin: null })).toMatchObject({ body: null, origin: null });
  });

  it.each([
    ['a fractional id', { id: 1.5 }],
    ['a missing id', { id: undefined }],
    ['an unknown type', { type: 'open' }],
    ['a long method', { method: 'X'.repeat(17) }],
    ['a URL over the bound', { url: `http://o.test/${'a'.repeat(MAX_URL_CHARS)}` }],
    ['headers that are not pairs', { headers: [['only-a-name']] }],
    ['a header value that is not a string', { headers: [['x', 1]] }],
    ['too many headers', { headers: Array.from({ length: MAX_HEADERS + 1 }, (_, i) => [`x-${i}`, 'v']) }],
    ['an unknown priority', { priority: 'urgent' }],
    ['a body that is a view, not a buffer', { body: new Uint8Array(3) }],
    ['a body that is a string', { body: 'abc' }],
    ['an unknown redirect mode', { redirect: 'follow-all' }],
    ['a missing integrity', { integrity: undefined }],
    ['an origin that is not a string', { origin: 42 }],
    ['an unknown cache mode', { cache: 'sometimes' }],
    ['a missing cache mode', { cache: undefined }],
  ])('drops a request with %s', (_, change) => {
    expect(readPageMessage({ ...request, ...change })).toBeNull();
  });

  it('reads consumed and cancel, and drops a negative or fractional count', () => {
    expect(readPageMessage({ type: 'consumed', id: 2, bytes: 65536 })).toEqual({
      type: 'consumed',
      id: 2,
      bytes: 65536,
    });
    expect(readPageMessage({ type: 'consumed', id: 2, bytes: -1 })).toBeNull();
    expect(readPageMessage({ type: 'consumed', id: 2, bytes: 0.5 })).toBeNull();
    expect(readPageMessage({ type: 'cancel', id: 3, reason: 'x' })).toEqual({ type: 'cancel', id: 3 });
  });

  it.each([null, undefined, 'request', 42, []])('drops %j', (raw) => {
    expect(readPageMessage(raw)).toBeNull();
  });
});

describe('readBridgeMessage', () => {
  it('keeps what the hook relies on and drops anything else', () => {
    expect(readBridgeMessage({ type: 'config', routed: true })).toEqual({ type: 'config', routed: true });
    expect(readBridgeMessage({ type: 'head', id: 1, status: 200, statusText: 'OK', headers: [] })).not.toBeNull();
    expect(readBridgeMessage({ type: 'head', id: 1, status: '200', statusText: 'OK', headers: [] })).toBeNull();
    expect(readBridgeMessage({ type: 'chunk', id: 1, data: new Uint8Array(2) })).toBeNull();
    expect(readBridgeMessage({ type: 'error', id: 1, error: { category: 'cors' } })).toBeNull();
    expect(readBridgeMessage({ type: 'error', id: 1, error: { category: 'cors', message: 'refused' } })).not.toBeNull();
    expect(readBridgeMessage({ type: 'uploaded', id: 1, bytes: 4096 })).toEqual({
      type: 'uploaded',
      id: 1,
      bytes: 4096,
    });
    expect(readBridgeMessage({ type: 'uploaded', id: 1, bytes: -1 })).toBeNull();
  });
});
