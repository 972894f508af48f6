/**
 * IP literals as numbers, and CIDR blocks over them. Strict: only the canonical forms an address
 * check is ever handed (what the WHATWG URL parser serialises, what webRequest and dns.resolve
 * report). Anything else is not an address (null), and callers refuse it: an exit never guesses.
 */
export type Family = 4 | 6;

export interface Address {
  family: Family;
  value: bigint;
}

export interface Block {
  family: Family;
  base: bigint;
  prefix: number;
  /** As written, for messages. */
  text: string;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function parseIPv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** Eight 16-bit groups, or null. Accepts `::` compression and a dotted IPv4 tail; no zone, no brackets. */
export function parseIPv6(text: string): number[] | null {
  let body = text.toLowerCase();
  let tail: number[] = [];
  const v4Tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4Tail?.[1]) {
    const octets = parseIPv4(v4Tail[1]);
    if (!octets) return null;
    tail = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
    body = `${body.slice(0, -v4Tail[1].length)}0:0`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    return groups.every((group) => /^[0-9a-f]{1,4}$/.test(group)) ? groups.map((group) => parseInt(group, 16)) : null;
  };
  const head = groupsOf(halves[0] ?? '');
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (!head || !rest) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups;
}

export function ipv4Value(octets: readonly number[]): bigint {
  return octets.reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}

export function ipv6Value(groups: readonly number[]): bigint {
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** An address literal (IPv6 with or without brackets), or null for anything else, zones included. */
export function parseAddress(text: string): Address | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIPv4(bare);
  if (v4) return { family: 4, value: ipv4Value(v4) };
  const v6 = bare.includes(':') ? parseIPv6(bare) : null;
  return v6 ? { family: 6, value: ipv6Value(v6) } : null;
}

/** `a.b.c.d/n` or `x::/n`; throws on anything else (tables and settings are validated before use). */
export function parseBlock(text: string): Block {
  const [addressText = '', prefixText = ''] = text.split('/');
  const address = parseAddress(addressText);
  const prefix = Number(prefixText);
  if (!address || !/^\d{1,3}$/.test(prefixText) || prefix > BITS[address.family])
    throw new Error(`not an address block: ${text}`);
  const hostBits = BigInt(BITS[address.family] - prefix);
  return { family: address.family, base: (address.value >> hostBits) << hostBits, prefix, text };
}

export function inBlock(address: Address, block: Block): boolean {
  if (address.family !== block.family) return false;
  const hostBits = BigInt(BITS[block.family] - block.prefix);
  return address.value >> hostBits === block.base >> hostBits;
}

/** First and last address of a block. */
export function blockEdges(block: Block): { first: bigint; last: bigint } {
  const size = 1n << BigInt(BITS[block.family] - block.prefix);
  return { first: block.base, last: block.base + size - 1n };
}

export function formatAddress(address: Address): string {
  if (address.family === 4)
    return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, index) =>
    Number((address.value >> BigInt(112 - index * 16)) & 0xffffn).toString(16),
  );
  return groups.join(':');
}
