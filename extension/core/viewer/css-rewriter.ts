import { tokenize } from 'css-tree/tokenizer';

/**
 * Rewrites every URL a stylesheet can load through `rewrite`, resolved against `base`, judged on the
 * tokens a browser's CSS parser makes (css-tree's tokenizer follows CSS Syntax Level 3, so escapes
 * such as `\75 rl(` and every spelling of `url()` are seen as the browser sees them): `url(...)`,
 * `src(...)`, the strings of `image-set()` / `-webkit-image-set()` / `image()` / `cross-fade()`, and
 * `@import "..."`. A URL `rewrite` refuses becomes `about:invalid`, so nothing loads it. Old engines'
 * script hooks (`expression()`, `behavior`, `-moz-binding`, `-o-link`, `javascript:`) are neutralised.
 * Everything else is left byte for byte. Pure; works on stylesheets and style attributes alike.
 */
const T = {
  Ident: 1,
  Function: 2,
  AtKeyword: 3,
  String: 5,
  BadString: 6,
  Url: 7,
  BadUrl: 8,
  WhiteSpace: 13,
  LeftParenthesis: 21,
  RightParenthesis: 22,
  Comment: 25,
} as const;
const URL_FUNCTIONS = new Set(['url', 'src']);
const URL_STRING_FUNCTIONS = new Set(['image-set', '-webkit-image-set', 'image', 'cross-fade', '-webkit-cross-fade']);
const NEUTRALISED_IDENTS = new Set(['behavior', '-moz-binding', '-o-link', '-o-link-source']);

function unescapeCss(value: string): string {
  return value.replace(/\\([0-9a-f]{1,6}\s?|[^])/gi, (_, escaped: string) =>
    /^[0-9a-f]/i.test(escaped) ? String.fromCodePoint(Math.min(parseInt(escaped, 16), 0x10ffff) || 0xfffd) : escaped,
  );
}

/** The value of a string token, quotes removed and escapes decoded (an escaped newline is nothing). */
function stringValue(token: string): string {
  return unescapeCss(
    token.slice(1, token.endsWith(token[0]!) && token.length > 1 ? -1 : undefined).replace(/\\\n/g, ''),
  );
}

interface Token {
  type: number;
  text: string;
  start: number;
  end: number;
}

export function rewriteCss(css: string, base: string, rewrite: (absolute: string) => string | null): string {
  const resolve = (raw: string): string => {
    const value = raw.trim();
    // url("") would load the page itself; a fragment points inside it.
    if (value === '') return 'about:invalid';
    if (value.startsWith('#')) return value;
    if (/^(java|vb)script:/i.test(value)) return 'about:invalid';
    let absolute: string;
    try {
      absolute = new URL(value, base).href;
    } catch {
      return 'about:invalid';
    }
    return rewrite(absolute) ?? 'about:invalid';
  };
  const tokens: Token[] = [];
  tokenize(css, (type, start, end) => tokens.push({ type, text: css.slice(start, end), start, end }));
  const out: string[] = [];
  let copiedTo = 0;
  const replace = (start: number, end: number, text: string): void => {
    out.push(css.slice(copiedTo, start), text);
    copiedTo = end;
  };
  /** Open functions and parentheses, innermost last (lower-cased, unescaped names; '(' for a bare one). */
  const open: string[] = [];
  let afterImport = false;
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index]!;
    switch (token.type) {
      case T.Url:
        replace(
          token.start,
          token.end,
          `url(${JSON.stringify(resolve(unescapeCss(token.text.slice(token.text.indexOf('(') + 1, -1))))})`,
        );
        break;
      case T.BadUrl:
        replace(token.start, token.end, 'url("about:invalid")');
        break;
      case T.Function: {
        const name = unescapeCss(token.text.slice(0, -1)).toLowerCase();
        // Conservative: `\20url(` or `\a0url(` are not url() to a browser, but are rewritten as if they were.
        if (URL_FUNCTIONS.has(name) || name.endsWith('url')) {
          // url( <ws>* <string> <ws>* ): the whole call is replaced; anything else in it makes it invalid.
          let next = index + 1;
          while (tokens[next]?.type === T.WhiteSpace || tokens[next]?.type === T.Comment) next += 1;
          const argument = tokens[next];
          let close = next + 1;
          while (tokens[close]?.type === T.WhiteSpace || tokens[close]?.type === T.Comment) close += 1;
          if (argument?.type === T.String && tokens[close]?.type === T.RightParenthesis) {
            replace(token.start, tokens[close]!.end, `url(${JSON.stringify(resolve(stringValue(argument.text)))})`);
            index = close;
            break;
          }
          // An escaped name (`\75 rl(`) reaches the browser as a url token, which css-tree tokenizes
          // as a function: its raw content up to the first ")" is the URL, as CSS Syntax reads it.
          const closing = css.indexOf(')', token.end);
          const end = closing < 0 ? css.length : closing + 1;
          replace(
            token.start,
            end,
            `url(${JSON.stringify(resolve(unescapeCss(css.slice(token.end, closing < 0 ? css.length : closing))))})`,
          );
          while (index + 1 < tokens.length && tokens[index + 1]!.start < end) index += 1;
          break;
        }
        if (name === 'expression') replace(token.start, token.end, 'invalid(');
        open.push(name);
        break;
      }
      case T.LeftParenthesis:
        open.push('(');
        break;
      case T.RightParenthesis:
        open.pop();
        break;
      case T.String:
      case T.BadString:
        if (afterImport || URL_STRING_FUNCTIONS.has(open.at(-1) ?? ''))
          replace(token.start, token.end, JSON.stringify(resolve(stringValue(token.text))));
        else if (/(java|vb)script\s*:/i.test(stringValue(token.text))) replace(token.start, token.end, '""');
        break;
      case T.Ident:
        if (NEUTRALISED_IDENTS.has(unescapeCss(token.text).toLowerCase()))
          replace(token.start, token.end, '-invalid-property');
        else if (/^(java|vb)script$/i.test(unescapeCss(token.text))) replace(token.start, token.end, 'invalid');
        break;
      default:
        break;
    }
    if (token.type === T.AtKeyword) afterImport = unescapeCss(token.text).toLowerCase() === '@import';
    else if (token.type !== T.WhiteSpace && token.type !== T.Comment) afterImport = false;
  }
  out.push(css.slice(copiedTo));
  return out.join('');
}
