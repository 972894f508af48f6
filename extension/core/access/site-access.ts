/**
 * Which sites the extension must be allowed to reach for the settings a person chose, and what is
 * missing. Pure: the hosts ask the browser (`permissions.contains`) and request at the moment of
 * need. Firefox treats MV3 host permissions as optional and a person can withdraw them at any time
 * (Chrome's "site access" too), so nothing here assumes the install-time grant still holds.
 */
export const ALL_SITES = '<all_urls>';

/** Match patterns carry no port in Firefox: one pattern per scheme and host. */
export function matchPatternsFor(origins: readonly string[]): string[] {
  const patterns = new Set<string>();
  for (const origin of origins) {
    const url = new URL(origin);
    patterns.add(`${url.protocol}//${url.hostname}/*`);
  }
  return [...patterns];
}

export interface AccessNeeds {
  /** An exit fetches anywhere the policy allows, so sharing needs every site. */
  share: boolean;
  routedOrigins: readonly string[];
}

/** The patterns to ask for: all sites when sharing (which covers any route), else each routed site. */
export function patternsNeeded(needs: AccessNeeds): string[] {
  if (needs.share) return [ALL_SITES];
  return matchPatternsFor(needs.routedOrigins);
}

export interface SiteAccess {
  /** Every site is allowed (an exit can serve). */
  allSites: boolean;
  /** Routed origins whose site is not allowed: their pages' requests are not routed. */
  unroutable: string[];
}

/** Judges the settings against a grant test (the browser's `permissions.contains`, one pattern each). */
export async function siteAccessFor(
  routedOrigins: readonly string[],
  granted: (pattern: string) => Promise<boolean>,
): Promise<SiteAccess> {
  const allSites = await granted(ALL_SITES);
  if (allSites) return { allSites, unroutable: [] };
  const unroutable: string[] = [];
  for (const origin of routedOrigins) {
    const [pattern] = matchPatternsFor([origin]);
    if (pattern && !(await granted(pattern))) unroutable.push(origin);
  }
  return { allSites, unroutable };
}

/** The patterns a "grant access" button asks for to cover what is missing, given what is wanted. */
export function patternsMissing(needs: AccessNeeds, access: SiteAccess): string[] {
  if (needs.share && !access.allSites) return [ALL_SITES];
  return matchPatternsFor(access.unroutable);
}

/**
 * Of `patterns`, those not plainly covered by the granted origin patterns (all sites, any host of
 * the scheme, or the pattern itself). Lets a page decide without an await, so the browser's
 * permission request still runs inside the click that asked for it.
 */
export function uncovered(patterns: readonly string[], granted: readonly string[]): string[] {
  const grantedSet = new Set(granted);
  if (grantedSet.has(ALL_SITES)) return [];
  return patterns.filter((pattern) => {
    if (grantedSet.has(pattern)) return false;
    const scheme = /^([a-z*]+):\/\//.exec(pattern)?.[1];
    return (
      !(grantedSet.has('*://*/*') && (scheme === 'http' || scheme === 'https')) && !grantedSet.has(`${scheme}://*/*`)
    );
  });
}
