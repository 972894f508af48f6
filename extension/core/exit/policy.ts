import { PeerlaneError } from '../errors';
import { inBlock, parseAddress, parseBlock, parseIPv4, type Block } from './ip-address';
import { isNonPublic } from './special-addresses';

/**
 * Exit policy: what an exit refuses before it fetches anything. Every IPv4 spelling (decimal,
 * octal, hex, short forms like `127.1`) reaches us already normalised by the WHATWG URL parser,
 * the same one the exit's fetch uses, so the address judged is the address that would be dialled.
 * Names are judged here only by form (local suffixes, single labels); what a name resolves to is
 * judged before connecting (name-lookup.ts) and again after (the connected address).
 */
export interface ExitPolicyOptions {
  /**
   * Tests and development only: these blocks (`127.0.0.2/32`) may be reached although private.
   * Empty in every build a person installs; the popup warns while it is not.
   */
  privateAllowList: readonly string[];
  allowedMethods: readonly string[];
  /** Destination ports an exit connects to; an empty port means the scheme's default. */
  allowedPorts: readonly number[];
  /** The DNS-over-HTTPS resolver a Chromium exit asks before connecting (name-lookup.ts); Firefox asks its own. */
  resolverUrl: string;
}

/**
 * The resolver a Chromium exit asks by default: Cloudflare's, the one Firefox itself uses for DNS over
 * HTTPS by default (Mozilla's trusted-resolver programme binds it to not keeping or selling what it
 * sees); docs/exit-safety.md says why and how to change it.
 */
export const DEFAULT_EXIT_RESOLVER = 'https://cloudflare-dns.com/dns-query';

export const DEFAULT_EXIT_PORTS: readonly number[] = [80, 443, 8080, 8443];
export const DEFAULT_EXIT_POLICY: ExitPolicyOptions = {
  privateAllowList: [],
  allowedMethods: ['GET', 'HEAD'],
  allowedPorts: DEFAULT_EXIT_PORTS,
  resolverUrl: DEFAULT_EXIT_RESOLVER,
};
/** At most this many blocks in the development allow-list, each at least this narrow. */
export const MAX_PRIVATE_ALLOW_BLOCKS = 8;
export const MIN_PRIVATE_ALLOW_PREFIX = { 4: 24, 6: 64 } as const;

export type Verdict = { allowed: true; url: URL } | { allowed: false; error: PeerlaneError };

function refuse(message: string): Verdict {
  return { allowed: false, error: new PeerlaneError('destination_refused', message) };
}

/** A development allow-list entry as a block, or why it is not one: no wider than a /24 (IPv4) or /64 (IPv6). */
function allowListEntry(text: string): Block | string {
  let block: Block;
  try {
    block = parseBlock(text);
  } catch {
    return `${text} is not an address block (like 127.0.0.2/32)`;
  }
  return block.prefix < MIN_PRIVATE_ALLOW_PREFIX[block.family]
    ? `${text} is wider than a /${MIN_PRIVATE_ALLOW_PREFIX[block.family]}`
    : block;
}

/** Why an allow-list entry is refused, or null when it is a narrow enough block. */
export function allowListProblem(text: string): string | null {
  const entry = allowListEntry(text);
  return typeof entry === 'string' ? entry : null;
}

/** The usable blocks of a list; an entry too wide or malformed is ignored, never taken as "allow everything". */
function allowListBlocks(texts: readonly string[]): Block[] {
  return texts.flatMap((text) => {
    const entry = allowListEntry(text);
    return typeof entry === 'string' ? [] : [entry];
  });
}

/**
 * Judges a connected or resolved IP address (as webRequest or dns.resolve report it) or a host
 * literal. Fails closed: anything that does not parse as an address (a zone suffix such as
 * `fe80::1%eth0`, a stray character) counts as private, so it is refused.
 */
export function isPrivateAddress(address: string, allowList: readonly string[] = []): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return true;
  if (!isNonPublic(parsed)) return false;
  return !allowListBlocks(allowList).some((block) => inBlock(parsed, block));
}

/** Suffixes that name hosts on someone's own network, never on the public internet. */
const LOCAL_SUFFIXES = [
  'localhost',
  'local',
  'internal',
  'intranet',
  'lan',
  'home',
  'corp',
  'private',
  'localdomain',
  'home.arpa',
];

/** A local-looking name: a local suffix, or a single label (resolved by search domains to local hosts). */
function localNameReason(hostname: string): string | null {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  // `localhost..`, `127.0.0.1..`: resolvers differ on empty labels; none names a public host.
  if (name.split('.').some((label) => label === '')) return `name ${hostname} has an empty label`;
  if (!name.includes('.')) return `single-label name ${name} is refused`;
  const suffix = LOCAL_SUFFIXES.find((local) => name === local || name.endsWith(`.${local}`));
  return suffix ? `local name ${name} (.${suffix}) is refused` : null;
}

function portOf(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/**
 * A URL host that is an address rather than a name. The URL parser serialises every IP spelling
 * (decimal, octal, hex, short forms, IPv6 forms) to one canonical literal: an IPv4 host is dotted
 * decimal, an IPv6 host is in brackets.
 */
export function isAddressLiteral(urlHostname: string): boolean {
  return parseIPv4(urlHostname) !== null || urlHostname.startsWith('[');
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
      error: new PeerlaneError(
        'method_refused',
        `method ${method} is not allowed by this exit (only ${options.allowedMethods.join(', ')})`,
      ),
    };
  }
  if (url.username || url.password) return refuse('URLs with credentials are refused');
  const port = portOf(url);
  if (!options.allowedPorts.includes(port))
    return refuse(`port ${port} is not one this exit connects to (${options.allowedPorts.join(', ')})`);
  const host = url.hostname;
  if (isAddressLiteral(host)) {
    if (isPrivateAddress(host, options.privateAllowList))
      return refuse(`private or reserved address ${host} is refused`);
    return { allowed: true, url };
  }
  const localReason = localNameReason(host);
  if (localReason) return refuse(localReason);
  return { allowed: true, url };
}
