import { PeerlaneError } from '../errors';

/**
 * Exit policy: what an exit refuses before it fetches anything. Every IPv4 spelling (decimal,
 * octal, hex, short forms like `127.1`) reaches us already normalised by the WHATWG URL parser,
 * the same one the exit's fetch uses, so the address judged is the address that would be dialled.
 * Names are judged here only by form (local suffixes, single labels); what a name resolves to is
 * checked by the browser hosts after connecting (Chrome) or before (Firefox).
 */
export interface ExitPolicyOptions {
  /** Tests and development only: permit loopback/private targets. */
  allowPrivateTargets: boolean;
  allowedMethods: readonly string[];
  /** Destination ports an exit connects to; an empty port means the scheme's default. */
  allowedPorts: readonly number[];
}

export const DEFAULT_EXIT_PORTS: readonly number[] = [80, 443, 8080, 8443];
export const DEFAULT_EXIT_POLICY: ExitPolicyOptions = { allowPrivateTargets: false, allowedMethods: ['GET', 'HEAD'], allowedPorts: DEFAULT_EXIT_PORTS };

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

/**
 * True for IPv4 addresses no exit may connect to (IANA special-purpose registry): this network,
 * RFC 1918, loopback, CGNAT, link-local, IETF protocol assignments, documentation, benchmarking,
 * multicast, reserved and broadcast.
 */
export function isPrivateIPv4(octets: readonly number[]): boolean {
  const [a = 0, b = 0, c = 0] = octets;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) ||
    (a === 192 && b === 88 && c === 99) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113) ||
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

/** The IPv4 address carried in two 16-bit groups. */
function embeddedIPv4(high: number, low: number): number[] {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}

export function isPrivateIPv6(groups: readonly number[]): boolean {
  const allZeroUntil = (n: number): boolean => groups.slice(0, n).every((group) => group === 0);
  const [first = 0, second = 0, third = 0] = groups;
  if (allZeroUntil(7) && (groups[7] === 0 || groups[7] === 1)) return true; // :: and ::1
  if ((first & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80 || (first & 0xffc0) === 0xfec0) return true; // link-local, old site-local
  if ((first & 0xff00) === 0xff00) return true; // multicast
  if (first === 0x2001 && second === 0x0db8) return true; // documentation
  if (first === 0x0100 && second === 0 && third === 0 && groups[3] === 0) return true; // discard-only 100::/64
  if (first === 0x2001 && second === 0) return true; // Teredo tunnels reach hosts we cannot judge
  if (first === 0x0064 && second === 0xff9b && third === 1) return true; // local-use NAT64 64:ff9b:1::/48
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and well-known NAT64 (64:ff9b::/96):
  // judge the embedded address.
  const wellKnownNat64 = first === 0x0064 && second === 0xff9b && groups.slice(2, 6).every((group) => group === 0);
  if ((allZeroUntil(5) && (groups[5] === 0xffff || groups[5] === 0)) || wellKnownNat64) return isPrivateIPv4(embeddedIPv4(groups[6] ?? 0, groups[7] ?? 0));
  // 6to4 (2002:a.b.c.d::/48) embeds the relay's IPv4 address in the second and third groups.
  if (first === 0x2002) return isPrivateIPv4(embeddedIPv4(second, third));
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

/** Suffixes that name hosts on someone's own network, never on the public internet. */
const LOCAL_SUFFIXES = ['localhost', 'local', 'internal', 'intranet', 'lan', 'home', 'corp', 'private', 'localdomain', 'home.arpa'];

/** A local-looking name: a local suffix, or a single label (resolved by search domains to local hosts). */
function localNameReason(hostname: string): string | null {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (!name.includes('.') && !name.startsWith('[')) return `single-label name ${name} is refused`;
  const suffix = LOCAL_SUFFIXES.find((local) => name === local || name.endsWith(`.${local}`));
  return suffix ? `local name ${name} (.${suffix}) is refused` : null;
}

function portOf(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
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
  const port = portOf(url);
  if (!options.allowedPorts.includes(port)) return refuse(`port ${port} is not one this exit connects to (${options.allowedPorts.join(', ')})`);
  if (!options.allowPrivateTargets) {
    if (isPrivateAddress(url.hostname)) return refuse(`private or reserved address ${url.hostname} is refused`);
    const localReason = parseIPv4(url.hostname) ? null : localNameReason(url.hostname);
    if (localReason) return refuse(localReason);
  }
  return { allowed: true, url };
}
