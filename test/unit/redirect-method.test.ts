import { describe, expect, it } from 'vitest';
import { afterRedirect } from '../../extension/core/http/redirect-method';

const post = {
  method: 'POST',
  headers: [
    ['content-type', 'text/plain'],
    ['accept', '*/*'],
  ] as [string, string][],
  body: 'x',
};

describe('a followed redirect, as the Fetch standard has it', () => {
  it('301 and 302 turn a POST into a bodiless GET, and drop the headers that described the body', () => {
    for (const status of [301, 302])
      expect(afterRedirect(status, post)).toEqual({ method: 'GET', headers: [['accept', '*/*']], body: null });
    expect(afterRedirect(302, { ...post, method: 'PUT' })).toMatchObject({ method: 'PUT', body: 'x' });
  });

  it('303 turns anything but GET and HEAD into a GET', () => {
    expect(afterRedirect(303, { ...post, method: 'DELETE' })).toMatchObject({ method: 'GET', body: null });
    expect(afterRedirect(303, { ...post, method: 'HEAD', body: null })).toMatchObject({ method: 'HEAD' });
  });

  it('307 and 308 keep method and body', () => {
    for (const status of [307, 308]) expect(afterRedirect(status, post)).toBe(post);
  });
});
