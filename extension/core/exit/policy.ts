import { PeerlaneError } from '../errors';

/**
 * Exit policy v1: what an exit refuses before it fetches anything. The full corpus of spellings
 * (decimal/octal/hex IPv4 literals, NAT64, ports) is a later issue; this version already relies on
 * the WHATWG URL parser, which normalises `http://2130706433/` and `http://0x7f.1/` to 127.0.0.1.
 */
export interface ExitPolicyOptions {
  /** Tests and development only: permit loopback/private targets. */
  allowPrivateTargets: boolean;
  allowedMethods: readonly string[];
}

export const DEFAULT_EXIT_POLICY: ExitPolicyOptions = { allowPrivateTargets: false, allowedMethods: ['GET', 'HEAD'] };

export type Verdict = { allowed: true; url: URL } | { allowed: false; error: PeerlaneError };

function refuse(message: string): Verdict {
  return { allowed: false, error: new PeerlaneError('destination_refused', message) };
}

function parseIPv4(host: string): number[] | null {
  const parts = host.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** True for IPv4 addresses no exit may connect to: loopback, private, link-local, CGNAT, this-network, multicast, reserved. */
export function isPrivateIPv4(octets: readonly number[]): boolean {
  const [a = 0, b = 0] = octets;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}

/** Expands an IPv6 literal (without brackets) to eight 16-bit groups, or null. */
function parseIPv6(host: string): number[] | null {
  let text = host.toLowerCase();
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4Tail?.[1]) {
    const octets = parseIPv4(v4Tail[1]);
    if (!octets) return null;
    tail = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
    text = text.slice(0, -v4Tail[1].length) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const toGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
    return groups.map((group) => parseInt(group, 16));
  };
  const head = toGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? toGroups(halves[1] ?? '') : [];
  if (!head || !rest) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups;
}

export function isPrivateIPv6(groups: readonly number[]): boolean {
  const allZeroUntil = (n: number): boolean => groups.slice(0, n).every((group) => group === 0);
  if (allZeroUntil(7) && (groups[7] === 0 || groups[7] === 1)) return true; // :: and ::1
  const first = groups[0] ?? 0;
  if ((first & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((first & 0xff00) === 0xff00) return true; // multicast
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judge the embedded address.
  if (allZeroUntil(5) && (groups[5] === 0xffff || groups[5] === 0)) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return isPrivateIPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  }
  return false;
}

/** Judges a connected IP address (as webRequest reports it) or a host literal. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const v4 = parseIPv4(bare);
  if (v4) return isPrivateIPv4(v4);
  const v6 = parseIPv6(bare);
  if (v6) return isPrivateIPv6(v6);
  return false;
}

function isLocalName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name.endsWith('.local');
}

export function checkDestination(rawUrl: string, method: string, options: ExitPolicyOptions): Verdict {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return refuse(`not a valid URL: ${rawUrl.slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse(`scheme ${url.protocol} is not http(s)`);
  if (!options.allowedMethods.includes(method.toUpperCase())) {
    return {
      allowed: false,
      error: new PeerlaneError('method_refused', `method ${method} is not allowed by this exit (only ${options.allowedMethods.join(', ')})`),
    };
  }
  if (url.username || url.password) return refuse('URLs with credentials are refused');
  if (!options.allowPrivateTargets) {
    if (isLocalName(url.hostname)) return refuse(`local name ${url.hostname} is refused`);
    if (isPrivateAddress(url.hostname)) return refuse(`private or loopback address ${url.hostname} is refused`);
  }
  return { allowed: true, url };
}
