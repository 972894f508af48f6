import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputMatch } from '../helpers/child-output';
import { createNatLab, natBehaviours, type NatBehaviour, type NatLab } from '../helpers/nat-lab';

/**
 * The NAT lab's routers behave as the kinds they are named after (RFC 4787 mapping and filtering),
 * so what `npm run bench:nat` and nat-traversal.spec.ts report per kind is about that kind. A UDP
 * socket at home sends to two public addresses in turn; each answers from the port it was asked on,
 * from another port, and from the other address. What comes back, with the address:port each
 * saw, tells the mapping (the same port for both, or not) and the filtering (who may answer).
 */
const ECHO = `
import select, socket
def bound(address, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((address, port)); return s
first, second, other_port = bound('10.88.1.1', 5000), bound('10.88.2.1', 5000), bound('10.88.1.1', 5001)
print('ready', flush=True)
while True:
    for s in select.select([first, second], [], [])[0]:
        data, sender = s.recvfrom(100)
        seen = ('%s:%d' % sender).encode()
        s.sendto(b'same ' + seen, sender)
        other_port.sendto(b'other-port ' + seen, sender)
        (second if s is first else first).sendto(b'other-address ' + seen, sender)
`;
const HOME = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 40000)); s.settimeout(0.3)
for target in [('10.88.1.1', 5000), ('10.88.2.1', 5000)]:
    s.sendto(b'x', target)
    got = []
    try:
        while True: got.append(s.recvfrom(100)[0].decode())
    except socket.timeout: pass
    print(' | '.join(sorted(got)))
`;

let lab: NatLab;
let stopEcho: () => void;
beforeAll(async () => {
  lab = await createNatLab();
  const echo = spawn('ip', ['netns', 'exec', lab.publicNamespace, 'python3', '-c', ECHO], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stopEcho = () => echo.kill('SIGKILL');
  await outputMatch(echo, /ready/, 'the echo servers', 10_000);
}, 30_000);
afterAll(async () => {
  stopEcho();
  await lab.destroy();
});

/** What the home socket hears after asking the first address, then the second (a fresh router each time). */
function probe(kind: NatBehaviour): string[] {
  lab.setNat('a', kind);
  return execFileSync('ip', ['netns', 'exec', lab.home.a, 'python3', '-c', HOME]).toString().trim().split('\n');
}

describe('the NAT lab routers', () => {
  it('behave as their kinds: who is seen, and who may answer', () => {
    const seen = Object.fromEntries(natBehaviours.map((kind) => [kind, probe(kind)]));
    const all = (address: string) => `other-address ${address} | other-port ${address} | same ${address}`;
    expect(seen).toEqual({
      // Not translated, not filtered.
      none: [all('192.168.10.2:40000'), all('192.168.10.2:40000')],
      // One mapping, kept port; anyone may answer.
      'full-cone': [all('10.88.1.2:40000'), all('10.88.1.2:40000')],
      // One mapping; only addresses asked before, from any port (the second asks: the first may answer it too).
      'address-restricted': [
        'other-port 10.88.1.2:40000 | same 10.88.1.2:40000',
        'other-address 10.88.1.2:40000 | other-port 10.88.1.2:40000 | same 10.88.1.2:40000',
      ],
      // One mapping; only the exact address and port asked (the first's own port 5000 asked before).
      'port-restricted': ['same 10.88.1.2:40000', 'other-address 10.88.1.2:40000 | same 10.88.1.2:40000'],
      // A new mapping per destination; only the exact address and port on that mapping.
      symmetric: [expect.stringMatching(/^same 10\.88\.1\.2:\d+$/), expect.stringMatching(/^same 10\.88\.1\.2:\d+$/)],
    });
    const ports = seen.symmetric!.map((line) => line.split(':')[1]);
    expect(new Set(ports).size).toBe(2);
  });
});
