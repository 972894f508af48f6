import { inBlock, parseBlock, type Address, type Block } from './ip-address';

/**
 * Where an exit may connect: the blocks the IANA special-purpose registries mark not globally
 * reachable are refused (copies of both registries, with their date, are in `registry/`, and
 * `test/unit/exit-registry.test.ts` checks these tables against them). IPv6 is refused outside
 * global unicast `2000::/3` (the address-space registry: the rest is reserved, unique-local,
 * link-local or multicast), except IPv4-mapped and well-known NAT64 addresses, whose embedded IPv4
 * is judged (and 6to4's, inside 2000::/3).
 */
export const REGISTRY_VERSION =
  'IANA IPv4 and IPv6 Special-Purpose Address Registries, copy of 2026-12-01 (newest entry RFC 9780)';

const blocks = (texts: readonly string[]): Block[] => texts.map(parseBlock);

/** Not globally reachable (or deprecated) in the IPv4 registry, plus multicast from the address-space registry. */
export const REFUSED_IPV4 = blocks([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  // Whole /24: its two globally reachable anycast addresses are in STRICTER_THAN_REGISTRY.
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '255.255.255.255/32',
]);

const GLOBAL_UNICAST_IPV6 = parseBlock('2000::/3');
/** Inside 2000::/3, not globally reachable per the IPv6 registry (2001::/23 as a whole: see below). */
export const REFUSED_IPV6_GLOBAL_UNICAST = blocks(['2001::/23', '2001:db8::/32', '3fff::/20']);
/**
 * Judged by the IPv4 address they carry: an exit that dials one of these reaches that IPv4 host
 * (and a dual-stack socket may report an IPv4 peer in the mapped form).
 */
export const IPV4_MAPPED = parseBlock('::ffff:0:0/96');
export const NAT64_WELL_KNOWN = parseBlock('64:ff9b::/96');
export const SIX_TO_FOUR = parseBlock('2002::/16');

/**
 * Blocks the registries call globally reachable that an exit still refuses, and why. None of them
 * is where a web origin lives, so nothing a person could want is lost.
 */
export const STRICTER_THAN_REGISTRY: readonly { block: string; reason: string }[] = [
  { block: '192.0.0.9/32', reason: 'Port Control Protocol anycast: a router protocol, not a web origin' },
  { block: '192.0.0.10/32', reason: 'TURN anycast: a relay protocol, not a web origin' },
  { block: '2001:1::1/128', reason: 'Port Control Protocol anycast' },
  { block: '2001:1::2/128', reason: 'TURN anycast' },
  { block: '2001:1::3/128', reason: 'DNS-SD registration anycast' },
  { block: '2001:3::/32', reason: 'AMT multicast tunnelling' },
  { block: '2001:4:112::/48', reason: 'AS112 reverse-DNS sink' },
  { block: '2001:20::/28', reason: 'ORCHIDv2: identifiers, not routable at the IP layer (RFC 7343)' },
  { block: '2001:30::/28', reason: 'Drone Remote ID entity tags: identifiers, not locators (RFC 9374)' },
];

function embeddedIPv4(value: bigint): Address {
  return { family: 4, value: value & 0xffffffffn };
}

/** True when no exit may connect to `address`. */
export function isNonPublic(address: Address): boolean {
  if (address.family === 4) return REFUSED_IPV4.some((block) => inBlock(address, block));
  if (inBlock(address, IPV4_MAPPED) || inBlock(address, NAT64_WELL_KNOWN))
    return isNonPublic(embeddedIPv4(address.value));
  if (!inBlock(address, GLOBAL_UNICAST_IPV6)) return true;
  // 6to4 (2002:a.b.c.d::/48) carries its relay's IPv4 address in bits 16–47.
  if (inBlock(address, SIX_TO_FOUR)) return isNonPublic(embeddedIPv4(address.value >> 80n));
  return REFUSED_IPV6_GLOBAL_UNICAST.some((block) => inBlock(address, block));
}
