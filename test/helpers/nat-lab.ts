import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { namespaceWrapper } from './netns';

/**
 * A small internet inside network namespaces, for NAT traversal tests (root only; every namespace
 * and rule is made here and removed by `destroy`, nothing leaves the machine):
 *
 *   home A 192.168.10.2 ─ router A (NAT) 10.88.1.2 ─┐
 *                                                    public 10.88.1.1 / 10.88.2.1 (STUN/TURN, signaling)
 *   home B 192.168.20.2 ─ router B (NAT) 10.88.2.2 ─┘
 *
 * A router's NAT is a cone (Linux masquerade keeps one mapping per local socket) or symmetric
 * (`masquerade random`: a fresh random port per destination, so a peer cannot aim at it).
 */
export type NatBehaviour = 'cone' | 'symmetric';

export interface NatLab {
  readonly publicAddresses: [string, string];
  /** Where the "internet's" servers run (coturn, signaling). */
  readonly publicNamespace: string;
  readonly home: { a: string; b: string };
  setNat(router: 'a' | 'b', behaviour: NatBehaviour): void;
  /** An executable that runs `program` inside namespace `ns` (for launchers that take a path). */
  wrapper(ns: string, program: string): Promise<string>;
  destroy(): Promise<void>;
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};
const inNs = (ns: string, ...command: string[]): void => {
  execFileSync('ip', ['netns', 'exec', ns, ...command], { stdio: ['ignore', 'ignore', 'pipe'] });
};

export async function createNatLab(): Promise<NatLab> {
  if (process.getuid?.() !== 0)
    throw new Error('the NAT lab needs root (network namespaces, nftables); CI runs as root');
  const tag = `pl${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const ns = { pub: `${tag}pub`, ra: `${tag}ra`, rb: `${tag}rb`, ha: `${tag}ha`, hb: `${tag}hb` };
  const scratch = await mkdtemp(join(tmpdir(), 'peerlane-natlab-'));
  const made: string[] = [];
  const destroy = async (): Promise<void> => {
    for (const name of made.reverse()) {
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    }
    await rm(scratch, { recursive: true, force: true });
  };
  try {
    for (const name of Object.values(ns)) {
      ip('netns', 'add', name);
      made.push(name);
      inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    }
    const link = (a: string, aDev: string, aAddr: string, b: string, bDev: string, bAddr: string): void => {
      ip('link', 'add', aDev, 'netns', a, 'type', 'veth', 'peer', 'name', bDev, 'netns', b);
      inNs(a, 'ip', 'addr', 'add', aAddr, 'dev', aDev);
      inNs(b, 'ip', 'addr', 'add', bAddr, 'dev', bDev);
      inNs(a, 'ip', 'link', 'set', aDev, 'up');
      inNs(b, 'ip', 'link', 'set', bDev, 'up');
    };
    link(ns.pub, 'wa', '10.88.1.1/24', ns.ra, 'up0', '10.88.1.2/24');
    link(ns.pub, 'wb', '10.88.2.1/24', ns.rb, 'up0', '10.88.2.2/24');
    link(ns.ra, 'lan0', '192.168.10.1/24', ns.ha, 'eth0', '192.168.10.2/24');
    link(ns.rb, 'lan0', '192.168.20.1/24', ns.hb, 'eth0', '192.168.20.2/24');
    for (const router of [ns.pub, ns.ra, ns.rb]) inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    inNs(ns.ra, 'ip', 'route', 'add', 'default', 'via', '10.88.1.1');
    inNs(ns.rb, 'ip', 'route', 'add', 'default', 'via', '10.88.2.1');
    inNs(ns.ha, 'ip', 'route', 'add', 'default', 'via', '192.168.10.1');
    inNs(ns.hb, 'ip', 'route', 'add', 'default', 'via', '192.168.20.1');
  } catch (error) {
    await destroy();
    throw new Error(`cannot build the NAT lab: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const routers = { a: ns.ra, b: ns.rb };
  const lab: NatLab = {
    publicNamespace: ns.pub,
    publicAddresses: ['10.88.1.1', '10.88.2.1'],
    home: { a: ns.ha, b: ns.hb },
    setNat(router, behaviour) {
      const name = routers[router];
      // Flush mappings too: a new behaviour must not inherit the old one's conntrack entries.
      execFileSync('ip', ['netns', 'exec', name, 'nft', '-f', '-'], {
        // Like a home router, drop what arrives unasked: a dropped packet leaves no conntrack entry, which
        // would otherwise hold the port a later outgoing mapping wants and make even a cone NAT change ports.
        input: `flush ruleset\ntable ip nat {\n chain post { type nat hook postrouting priority srcnat; policy accept; oifname "up0" masquerade${behaviour === 'symmetric' ? ' random' : ''}; }\n}\ntable ip filter {\n chain input { type filter hook input priority 0; policy accept; iifname "up0" ct state new drop; }\n chain forward { type filter hook forward priority 0; policy accept; iifname "up0" ct state new drop; }\n}\n`,
      });
      try {
        inNs(name, 'conntrack', '-F');
      } catch {
        // conntrack tools absent: the routers' mappings time out on their own; tests restart browsers anyway
      }
    },
    wrapper: (namespace, program) => namespaceWrapper(scratch, namespace, program),
    destroy,
  };
  return lab;
}
