import { readFileSync } from 'node:fs';
import {
  blockEdges,
  formatAddress,
  inBlock,
  parseBlock,
  type Address,
  type Block,
} from '../../extension/core/exit/ip-address';

/**
 * Exit-policy cases generated from the copies of the IANA special-purpose registries
 * (`extension/core/exit/registry/`), each with the verdict the registry gives, not the policy.
 * An address is reachable when the most specific registry block containing it says Globally
 * Reachable "True" ("False", "N/A" and deprecated blocks: not reachable); outside every block it is
 * reachable, except where the address-space registries say otherwise (multicast, and IPv6 outside
 * global unicast 2000::/3 is reserved). IPv4-mapped, well-known NAT64 and 6to4 addresses carry an
 * IPv4 address and take its verdict (RFC 4291, RFC 6052, RFC 3056).
 */
const REGISTRY_DIR = 'extension/core/exit/registry';

export interface RegistryRow {
  block: Block;
  name: string;
  globallyReachable: string;
}

function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.split('\n').slice(1)) {
    if (!line.trim()) continue;
    const cells: string[] = [];
    let cell = '';
    let quoted = false;
    for (let index = 0; index < line.length; index += 1) {
      const char = line[index]!;
      if (quoted && char === '"' && line[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (char === '"') quoted = !quoted;
      else if (char === ',' && !quoted) {
        cells.push(cell);
        cell = '';
      } else cell += char;
    }
    cells.push(cell);
    rows.push(cells);
  }
  return rows;
}

export function registryRows(): RegistryRow[] {
  return ['iana-ipv4-special-registry.csv', 'iana-ipv6-special-registry.csv'].flatMap((file) =>
    csvRows(readFileSync(`${REGISTRY_DIR}/${file}`, 'utf8')).map((cells) => ({
      block: parseBlock(cells[0]!),
      name: cells[1]!,
      globallyReachable: cells[8] ?? '',
    })),
  );
}

/** Address-space facts the special registries leave out. */
const ADDRESS_SPACE: RegistryRow[] = [
  { block: parseBlock('224.0.0.0/4'), name: 'Multicast (IPv4 address space, RFC 5771)', globallyReachable: 'False' },
  { block: parseBlock('ff00::/8'), name: 'Multicast (IPv6 address space, RFC 4291)', globallyReachable: 'False' },
  { block: parseBlock('fec0::/10'), name: 'Site-local, deprecated (RFC 3879)', globallyReachable: 'False' },
];
const GLOBAL_UNICAST = parseBlock('2000::/3');
const CARRIES_IPV4: { block: Block; ipv4Of: (value: bigint) => bigint }[] = [
  { block: parseBlock('::ffff:0:0/96'), ipv4Of: (value) => value & 0xffffffffn },
  { block: parseBlock('64:ff9b::/96'), ipv4Of: (value) => value & 0xffffffffn },
  { block: parseBlock('2002::/16'), ipv4Of: (value) => (value >> 80n) & 0xffffffffn },
];

export function registryVerdict(
  address: Address,
  rows: readonly RegistryRow[],
  stricter: readonly Block[],
): { reachable: boolean; why: string } {
  const carrier = CARRIES_IPV4.find((entry) => inBlock(address, entry.block));
  if (carrier) {
    const inner = registryVerdict({ family: 4, value: carrier.ipv4Of(address.value) }, rows, stricter);
    return { reachable: inner.reachable, why: `${carrier.block.text} carrying ${inner.why}` };
  }
  if (stricter.some((block) => inBlock(address, block)))
    return { reachable: false, why: 'refused by a documented stricter choice' };
  const matching = [...rows, ...ADDRESS_SPACE]
    .filter((row) => inBlock(address, row.block))
    .sort((a, b) => b.block.prefix - a.block.prefix);
  const row = matching[0];
  if (row)
    return {
      reachable: row.globallyReachable === 'True',
      why: `${row.block.text} ${row.name}: ${row.globallyReachable || 'deprecated'}`,
    };
  if (address.family === 6 && !inBlock(address, GLOBAL_UNICAST))
    return { reachable: false, why: 'outside 2000::/3 (reserved by IETF)' };
  return { reachable: true, why: 'in no special-purpose block' };
}

const FULLWIDTH = (text: string): string =>
  text.replace(/[0-9a-fA-F.:]/g, (char) => String.fromCodePoint(char.codePointAt(0)! + 0xfee0));

function ipv4Spellings(value: bigint): string[] {
  const octets = [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn));
  const [a, b, c, d] = octets as [number, number, number, number];
  const dotted = octets.join('.');
  return [
    dotted,
    `${dotted}.`,
    octets.map((octet) => `0x${octet.toString(16)}`).join('.'),
    octets.map((octet) => `0${octet.toString(8)}`).join('.'),
    String(value),
    `0x${value.toString(16)}`,
    `0${value.toString(8)}`,
    `${a}.${b}.${(c << 8) | d}`,
    `${a}.${(b << 16) | (c << 8) | d}`,
    `0x${a.toString(16)}.${b}.0${c.toString(8)}.${d}`,
    FULLWIDTH(dotted),
  ];
}

function ipv6Spellings(value: bigint): string[] {
  const address: Address = { family: 6, value };
  const groups = formatAddress(address).split(':');
  const full = groups.map((group) => group.padStart(4, '0')).join(':');
  const low32 = value & 0xffffffffn;
  const dottedTail = `${groups.slice(0, 6).join(':')}:${[24n, 16n, 8n, 0n].map((shift) => String((low32 >> shift) & 0xffn)).join('.')}`;
  // The longest run of zero groups compressed, as RFC 5952 (and the URL serialiser) write it.
  const compressed = (() => {
    let best = { start: -1, length: 0 };
    for (let start = 0; start < 8; start += 1) {
      let length = 0;
      while (start + length < 8 && groups[start + length] === '0') length += 1;
      if (length > best.length && length > 1) best = { start, length };
    }
    if (best.start < 0) return groups.join(':');
    return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
  })();
  return [compressed, full, full.toUpperCase(), dottedTail, FULLWIDTH(compressed)].map((text) => `[${text}]`);
}

export interface RegistryCase {
  url: string;
  /** The canonical address the spelling stands for. */
  address: string;
  reachable: boolean;
  why: string;
}

/** Every block's edges and the addresses just outside them, in every spelling. */
export function registryCases(stricterBlocks: readonly string[]): { cases: RegistryCase[]; rows: RegistryRow[] } {
  const rows = registryRows();
  const stricter = stricterBlocks.map(parseBlock);
  const probes = new Map<string, Address>();
  const max = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n } as const;
  for (const { block } of [...rows, ...ADDRESS_SPACE, { block: GLOBAL_UNICAST }]) {
    const { first, last } = blockEdges(block);
    for (const value of [first, first + 1n, (first + last) / 2n, last, first - 1n, last + 1n]) {
      if (value < 0n || value > max[block.family]) continue;
      const address: Address = { family: block.family, value };
      probes.set(formatAddress(address), address);
    }
  }
  // Ordinary public addresses on both sides of the special blocks.
  for (const text of ['8.8.8.8', '1.1.1.1', '93.184.215.14', '2606:4700::6810:84e5', '2a00:1450:4001:82a::200e']) {
    const block = parseBlock(`${text}/${text.includes(':') ? 128 : 32}`);
    probes.set(text, { family: block.family, value: block.base });
  }
  const cases: RegistryCase[] = [];
  for (const [text, address] of probes) {
    const verdict = registryVerdict(address, rows, stricter);
    const spellings = address.family === 4 ? ipv4Spellings(address.value) : ipv6Spellings(address.value);
    for (const host of spellings) cases.push({ url: `http://${host}/`, address: text, ...verdict });
  }
  return { cases, rows };
}
