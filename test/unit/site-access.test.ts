import { describe, expect, it } from 'vitest';
import {
  ALL_SITES,
  matchPatternsFor,
  patternsMissing,
  patternsNeeded,
  siteAccessFor,
  uncovered,
} from '../../extension/core/access/site-access';

describe('site access', () => {
  it('turns origins into port-less match patterns, one per scheme and host', () => {
    expect(
      matchPatternsFor(['http://a.test:8080', 'http://a.test:9090', 'https://a.test', 'http://[::1]:5000']),
    ).toEqual(['http://a.test/*', 'https://a.test/*', 'http://[::1]/*']);
  });

  it('needs all sites when sharing (which covers every route), else each routed site', () => {
    expect(patternsNeeded({ share: true, routedOrigins: ['http://a.test'] })).toEqual([ALL_SITES]);
    expect(patternsNeeded({ share: false, routedOrigins: ['http://a.test:81', 'https://b.test'] })).toEqual([
      'http://a.test/*',
      'https://b.test/*',
    ]);
    expect(patternsNeeded({ share: false, routedOrigins: [] })).toEqual([]);
  });

  it('reads what is missing from the browser, one pattern at a time', async () => {
    const asked: string[] = [];
    const grant = (allowed: string[]) => async (pattern: string) => {
      asked.push(pattern);
      return allowed.includes(pattern);
    };
    expect(await siteAccessFor(['http://a.test:81'], grant([ALL_SITES]))).toEqual({ allSites: true, unroutable: [] });
    expect(asked).toEqual([ALL_SITES]);
    expect(await siteAccessFor(['http://a.test:81', 'https://b.test'], grant(['https://b.test/*']))).toEqual({
      allSites: false,
      unroutable: ['http://a.test:81'],
    });
  });

  it('asks for exactly what covers the gap', () => {
    expect(patternsMissing({ share: true, routedOrigins: [] }, { allSites: false, unroutable: [] })).toEqual([
      ALL_SITES,
    ]);
    expect(
      patternsMissing(
        { share: false, routedOrigins: ['http://a.test:81'] },
        { allSites: false, unroutable: ['http://a.test:81'] },
      ),
    ).toEqual(['http://a.test/*']);
    expect(
      patternsMissing({ share: true, routedOrigins: ['http://a.test'] }, { allSites: true, unroutable: [] }),
    ).toEqual([]);
  });

  it('knows without asking when a grant already covers a pattern', () => {
    expect(uncovered(['http://a.test/*', ALL_SITES], [ALL_SITES])).toEqual([]);
    expect(uncovered(['http://a.test/*', 'https://b.test/*'], ['*://*/*'])).toEqual([]);
    expect(uncovered(['http://a.test/*', 'https://b.test/*'], ['http://*/*'])).toEqual(['https://b.test/*']);
    expect(uncovered(['http://a.test/*', 'https://b.test/*'], ['http://a.test/*'])).toEqual(['https://b.test/*']);
    expect(uncovered([ALL_SITES], ['*://*/*'])).toEqual([ALL_SITES]);
  });
});
