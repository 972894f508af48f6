import type { NatKind } from '../../../protocol/signaling-messages';

/**
 * What a peer's gathered ICE candidates say about its NAT (pure; `transport/nat-probe.ts` gathers).
 * STUN answers with the address:port it saw: equal to a host address, there is no NAT (`open`); the
 * same mapping from every STUN server, a cone NAT; different ports for one local socket, a symmetric
 * NAT (a new mapping per destination, so a peer cannot aim at it); STUN asked but silent, `blocked`.
 */
export interface GatheredCandidate {
  type: string;
  address: string;
  port: number;
  relatedAddress: string | null;
  relatedPort: number | null;
}

export function classifyNat(candidates: readonly GatheredCandidate[], stunServers: number): NatKind {
  if (stunServers === 0) return 'unknown';
  const hosts = candidates.filter((candidate) => candidate.type === 'host');
  const reflexive = candidates.filter((candidate) => candidate.type === 'srflx');
  if (reflexive.some((mapped) => hosts.some((host) => host.address === mapped.address))) return 'open';
  if (reflexive.length === 0) return hosts.some((host) => isPublicAddress(host.address)) ? 'open' : 'blocked';
  // One local socket per base; browsers that hide host addresses report the base as 0.0.0.0:0, one group then.
  const mappingsByBase = new Map<string, Set<string>>();
  for (const mapped of reflexive) {
    const base =
      mapped.relatedAddress && mapped.relatedPort ? `${mapped.relatedAddress}:${mapped.relatedPort}` : 'hidden';
    const mappings = mappingsByBase.get(base) ?? new Set<string>();
    mappings.add(`${mapped.address}:${mapped.port}`);
    mappingsByBase.set(base, mappings);
  }
  return [...mappingsByBase.values()].some((mappings) => mappings.size > 1) ? 'symmetric' : 'cone';
}

/** A host candidate on a public address (a server, or a machine with no NAT); mDNS names and private ranges are not. */
export function isPublicAddress(address: string): boolean {
  if (address.endsWith('.local') || address === '') return false;
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(address);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return !(
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254)
    );
  }
  const lower = address.toLowerCase();
  return lower.includes(':') && !/^(fe[89ab]|f[cd]|::1$|::$)/.test(lower);
}
