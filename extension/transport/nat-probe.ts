import type { IceServerConfig, NatKind } from '../../protocol/signaling-messages';
import { classifyNat, type GatheredCandidate } from '../core/peers/nat-kind';

/**
 * Learns this browser's NAT kind by gathering ICE candidates against the STUN servers (TURN entries
 * are left out: a probe must not allocate relays). Bounded: whatever arrived within `timeoutMs`.
 */
const PROBE_TIMEOUT_MS = 5000;

export async function probeNat(iceServers: readonly IceServerConfig[], timeoutMs = PROBE_TIMEOUT_MS): Promise<NatKind> {
  const stun = iceServers.flatMap((server) => server.urls.filter((url) => /^stuns?:/.test(url)));
  if (stun.length === 0) return 'unknown';
  // One server per entry, so each is asked on its own and a symmetric NAT's ports differ between them.
  const connection = new RTCPeerConnection({ iceServers: stun.map((url) => ({ urls: url })) });
  const candidates: GatheredCandidate[] = [];
  try {
    connection.createDataChannel('nat-probe');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      connection.addEventListener('icecandidate', (event) => {
        const candidate = event.candidate;
        if (!candidate) {
          clearTimeout(timer);
          resolve();
          return;
        }
        if (candidate.type && candidate.address && candidate.port !== null) {
          candidates.push({
            type: candidate.type,
            address: candidate.address,
            port: candidate.port,
            relatedAddress: candidate.relatedAddress,
            relatedPort: candidate.relatedPort,
          });
        }
      });
      void connection.setLocalDescription().catch(() => resolve());
    });
  } finally {
    connection.close();
  }
  return classifyNat(candidates, stun.length);
}
