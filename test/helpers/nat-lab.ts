import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { namespaceWrapper } from './netns';

/**
 * A small internet inside network namespaces, for NAT traversal tests and `npm run bench:nat` (root
 * only; every namespace and rule is made here and removed by `destroy`, nothing leaves the machine):
 *
 *   home A 192.168.10.2 ─ router A 10.88.1.2 ─┐
 *                                              public 10.88.1.1 / 10.88.2.1 (STUN/TURN, signaling) ─ sink
 *   home B 192.168.20.2 ─ router B 10.88.2.2 ─┘
 *
 * Each router behaves as one kind of NAT (RFC 4787's mapping and filtering), built from nftables:
 * - `none`: routed, no translation, no filter (the home address is reachable from anywhere);
 * - `full-cone`: endpoint-independent mapping (masquerade keeps the local port when it is free) and
 *   filtering: anything arriving at a mapped port is let in;
 * - `address-restricted`: let in only from addresses the home has sent to, from any of their ports;
 * - `port-restricted`: let in only from the exact address and port sent to (conntrack alone);
 * - `symmetric`: a new random port per destination (`masquerade random`), port-restricted filtering.
 */
export const natBehaviours = ['none', 'full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const;
export type NatBehaviour = (typeof natBehaviours)[number];

export interface NatLab {
  readonly publicAddresses: [string, string];
  /** Where the "internet's" servers run (coturn, signaling). */
  readonly publicNamespace: string;
  readonly home: { a: string; b: string };
  setNat(router: 'a' | 'b', behaviour: NatBehaviour): void;
  /** Cuts the home behind `router` off (every packet through the router dropped), or puts it back. */
  cut(router: 'a' | 'b', cut: boolean): void;
  /**
   * The home behind `router` moves to another network: its router takes the next public address
   * (10.88.1.3, …) and forgets its mappings, so the home's public address and ports all change.
   */
  moveHome(router: 'a' | 'b'): string;
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
  const ns = { sink: `${tag}sink`, pub: `${tag}pub`, ra: `${tag}ra`, rb: `${tag}rb`, ha: `${tag}ha`, hb: `${tag}hb` };
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
    // The internet has a default route: a packet to an address nobody routes (a peer's private host
    // candidate, relayed by TURN) leaves and is lost, silently. Without one, the sender gets
    // ENETUNREACH at once, and coturn ends the whole allocation on it ("closed ... reason: general").
    // Here: towards a namespace that takes every frame and answers none.
    link(ns.pub, 'void0', '10.88.0.1/30', ns.sink, 'in0', '10.88.0.2/30');
    inNs(ns.sink, 'ip', 'addr', 'flush', 'dev', 'in0');
    inNs(
      ns.pub,
      'ip',
      'neigh',
      'replace',
      '10.88.0.2',
      'lladdr',
      '02:00:00:00:00:02',
      'dev',
      'void0',
      'nud',
      'permanent',
    );
    inNs(ns.pub, 'ip', 'route', 'add', 'default', 'via', '10.88.0.2', 'dev', 'void0');
    // Routes to the homes, used only by `none`: every NAT kind drops unasked traffic at its router.
    inNs(ns.pub, 'ip', 'route', 'add', '192.168.10.0/24', 'via', '10.88.1.2');
    inNs(ns.pub, 'ip', 'route', 'add', '192.168.20.0/24', 'via', '10.88.2.2');
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
  const homeAddresses = { a: '192.168.10.2', b: '192.168.20.2' };
  /** The last octet of each router's public address (moveHome counts it up). */
  const publicHost = { a: 2, b: 2 };
  const lab: NatLab = {
    publicNamespace: ns.pub,
    publicAddresses: ['10.88.1.1', '10.88.2.1'],
    home: { a: ns.ha, b: ns.hb },
    setNat(router, behaviour) {
      const name = routers[router];
      execFileSync('ip', ['netns', 'exec', name, 'nft', '-f', '-'], {
        input: natRules(behaviour, homeAddresses[router]),
      });
      // Flush mappings too: a new behaviour must not inherit the old one's conntrack entries.
      try {
        inNs(name, 'conntrack', '-F');
      } catch {
        // conntrack tools absent: the routers' mappings time out on their own; tests restart browsers anyway
      }
    },
    cut(router, cut) {
      execFileSync('ip', ['netns', 'exec', routers[router], 'nft', '-f', '-'], {
        input: cut
          ? 'table inet cut {\n chain forward { type filter hook forward priority -10; policy drop; }\n}\n'
          : 'delete table inet cut\n',
      });
    },
    moveHome(router) {
      const name = routers[router];
      const subnet = router === 'a' ? '10.88.1' : '10.88.2';
      const next = `${subnet}.${(publicHost[router] += 1)}`;
      inNs(name, 'ip', 'addr', 'flush', 'dev', 'up0');
      inNs(name, 'ip', 'addr', 'add', `${next}/24`, 'dev', 'up0');
      inNs(name, 'ip', 'route', 'replace', 'default', 'via', `${subnet}.1`);
      inNs(name, 'conntrack', '-F');
      return next;
    },
    wrapper: (namespace, program) => namespaceWrapper(scratch, namespace, program),
    destroy,
  };
  return lab;
}

/**
 * One router's ruleset. Like a home router, each NAT kind drops what arrives unasked: a dropped
 * packet leaves no conntrack entry, which would otherwise hold the port a later outgoing mapping
 * wants and make even a cone NAT change ports.
 */
function natRules(behaviour: NatBehaviour, home: string): string {
  if (behaviour === 'none') return 'flush ruleset\n';
  const masquerade = `oifname "up0" masquerade${behaviour === 'symmetric' ? ' random' : ''}`;
  // Full cone: any sender reaches a mapped port; address-restricted: any port of an address the home
  // sent to (remembered per mapped port, as long as a mapping lives). Both rely on masquerade keeping
  // the local port, which it does while the port is free (one home, one browser here).
  const letIn =
    behaviour === 'full-cone'
      ? `iifname "up0" udp dport 1024-65535 dnat to ${home}`
      : behaviour === 'address-restricted'
        ? `iifname "up0" ip saddr . udp dport @contacted dnat to ${home}`
        : '';
  const remember =
    behaviour === 'address-restricted' ? 'iifname "lan0" oifname "up0" update @contacted { ip daddr . udp sport }' : '';
  return `flush ruleset
table ip router {
 set contacted { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 2m; }
 chain pre { type nat hook prerouting priority dstnat; policy accept; ${letIn}
 }
 chain post { type nat hook postrouting priority srcnat; policy accept; ${masquerade}; }
 chain input { type filter hook input priority 0; policy accept; iifname "up0" ct state new drop; }
 chain forward { type filter hook forward priority 0; policy accept;
  ${remember}
  iifname "up0" ct state new ct status dnat accept
  iifname "up0" ct state new drop
 }
}
`;
}
