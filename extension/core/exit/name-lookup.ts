import * as dnsPacket from '@leichtgewicht/dns-packet';
import { errorText, PeerlaneError } from '../errors';
import { parseIPv4 } from './ip-address';
import { isPrivateAddress } from './policy';

/**
 * What an exit learns about a name before it connects, and what it does with it: every address
 * the name has is judged by the exit policy before a packet goes to any of them, and a plain-HTTP
 * request is then dialled to one of those judged addresses (the URL's host replaced by it, `Host`
 * kept), so the connection cannot land anywhere the check did not see. HTTPS cannot be dialled by
 * address (the certificate names the host): it connects by name, and the connected-address check
 * after connecting covers a name that answered differently in between (docs/exit-safety.md).
 *
 * Chromium has no DNS API for extensions, so its exit asks a DNS-over-HTTPS resolver (RFC 8484,
 * wire format, GET) named in the settings; Firefox asks its own resolver (`dns.resolve`). The
 * messages are built and read here, pure, with a well-kept DNS codec.
 */

/** A lookup that takes longer is a failed lookup: the exit refuses rather than connecting unchecked. */
export const LOOKUP_TIMEOUT_MS = 5000;
/** Answers are kept for their TTL, never longer than this, and at most this many names. */
export const MAX_CACHE_SECONDS = 300;
export const MAX_CACHED_NAMES = 512;

export type AddressType = 'A' | 'AAAA';

/** `https://…` anywhere, or `http://` to a loopback literal (a resolver on this machine, as in tests). */
export function resolverUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'the resolver must be a URL (https://…/dns-query)';
  }
  if (url.username || url.password) return 'the resolver URL may not carry credentials';
  if (url.protocol === 'https:') return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === '::1' || parseIPv4(host)?.[0] === 127;
  if (url.protocol === 'http:' && loopback) return null;
  return 'the resolver must use https:// (plain http only to 127.0.0.1 or [::1])';
}

/** The RFC 8484 GET request for one question: id 0 (cacheable), recursion desired. */
export function dohQueryUrl(resolverUrl: string, name: string, type: AddressType): string {
  const message = dnsPacket.encode({
    type: 'query',
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
  let binary = '';
  for (const byte of message) binary += String.fromCharCode(byte);
  const encoded = btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const url = new URL(resolverUrl);
  url.searchParams.set('dns', encoded);
  return url.href;
}

export interface DohAnswer {
  /** NOERROR, NXDOMAIN, SERVFAIL… */
  rcode: string;
  addresses: string[];
  /** The shortest TTL among the addresses (seconds); 0 when there are none. */
  ttlSeconds: number;
}

/** Reads a DNS response: the A and AAAA records of its answer section (CNAMEs followed by the resolver). */
export function readDohAnswer(bytes: Uint8Array): DohAnswer {
  let decoded: dnsPacket.Packet;
  try {
    decoded = dnsPacket.decode(bytes);
  } catch (error) {
    throw new PeerlaneError(
      'exit_fetch_failed',
      `the exit's name resolver sent a malformed answer: ${errorText(error)}`,
    );
  }
  const records = (decoded.answers ?? []).filter((answer) => answer.type === 'A' || answer.type === 'AAAA');
  const addresses = records.flatMap((answer) => (typeof answer.data === 'string' ? [answer.data] : []));
  const ttlSeconds = records.length === 0 ? 0 : Math.min(...records.map((answer) => answer.ttl ?? 0));
  return { rcode: String(decoded.rcode ?? 'NOERROR'), addresses, ttlSeconds };
}

/**
 * The verdict on a name's addresses: a refusal when any is private or special (a name that answers
 * both ways is refused: the browser may pick either), a distinct error when it has none.
 */
export function judgeAddresses(
  hostname: string,
  addresses: readonly string[],
  allowList: readonly string[],
): PeerlaneError | null {
  if (addresses.length === 0) return new PeerlaneError('destination_unresolved', `${hostname} has no address`);
  const privateOne = addresses.find((address) => isPrivateAddress(address, allowList));
  return privateOne === undefined
    ? null
    : new PeerlaneError('destination_refused', `${hostname} resolves to private address ${privateOne}`);
}

/**
 * The address a plain-HTTP request is dialled to: the first IPv4 one (reachable from every home
 * network), else the first IPv6 one.
 */
export function dialAddress(addresses: readonly string[]): string {
  const chosen = addresses.find((address) => parseIPv4(address) !== null) ?? addresses[0];
  if (chosen === undefined) throw new PeerlaneError('destination_unresolved', 'no address to connect to');
  return chosen;
}

/** `url` with its host replaced by `address` (bracketed when IPv6), port and path kept. */
export function urlDialledTo(url: URL, address: string): string {
  const dialled = new URL(url.href);
  dialled.hostname = parseIPv4(address) ? address : `[${address}]`;
  return dialled.href;
}

/** Answers by name, each until its TTL ends (capped); the oldest name goes first when full. */
export class LookupCache {
  private readonly entries = new Map<string, { addresses: string[]; expiresAt: number }>();

  constructor(private readonly now: () => number) {}

  get(key: string): string[] | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.addresses;
  }

  set(key: string, addresses: string[], ttlSeconds: number): void {
    const seconds = Math.min(Math.max(0, ttlSeconds), MAX_CACHE_SECONDS);
    if (seconds === 0 || addresses.length === 0) return;
    this.entries.delete(key);
    this.entries.set(key, { addresses, expiresAt: this.now() + seconds * 1000 });
    if (this.entries.size > MAX_CACHED_NAMES) this.entries.delete(this.entries.keys().next().value!);
  }
}
