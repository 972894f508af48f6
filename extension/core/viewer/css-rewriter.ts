/**
 * Rewrites every URL a stylesheet can load (`url(...)`, `@import "..."`) through `rewrite`, resolved
 * against `base`; a URL `rewrite` refuses becomes `about:invalid`, so nothing loads it. Old IE
 * `expression(...)` and `-moz-binding` are dropped outright. Pure; works on whole stylesheets or
 * style attributes.
 */
const URL_FUNCTION = /url\(\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|([^)"'\s]*))\s*\)/gi;
const IMPORT_STRING = /@import\s+(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')/gi;

function unescapeCss(value: string): string {
  return value.replace(/\\([0-9a-f]{1,6}\s?|.)/gi, (_, escaped: string) => (/^[0-9a-f]/i.test(escaped) ? String.fromCodePoint(parseInt(escaped, 16)) : escaped));
}

export function rewriteCss(css: string, base: string, rewrite: (absolute: string) => string | null): string {
  const resolve = (raw: string): string => {
    const value = unescapeCss(raw.trim());
    if (value === '' || value.startsWith('#')) return value;
    let absolute: string;
    try {
      absolute = new URL(value, base).href;
    } catch {
      return 'about:invalid';
    }
    return rewrite(absolute) ?? 'about:invalid';
  };
  return css
    .replace(/expression\s*\(/gi, 'invalid(')
    .replace(/-moz-binding\s*:/gi, '-invalid-binding:')
    .replace(URL_FUNCTION, (_, double?: string, single?: string, bare?: string) => `url(${JSON.stringify(resolve(double ?? single ?? bare ?? ''))})`)
    .replace(IMPORT_STRING, (_, double?: string, single?: string) => `@import ${JSON.stringify(resolve(double ?? single ?? ''))}`);
}
