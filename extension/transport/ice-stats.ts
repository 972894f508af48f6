import type SimplePeer from 'simple-peer';
import type { CandidatePair, PeerPath } from '../core/channels/transport-channel';

/**
 * What a connection's ICE statistics say: whether its selected candidate pair is relayed, and the
 * pair's round trip from its STUN consent checks (how the mesh chooses lanes and tells the popup
 * the path).
 */

/**
 * A candidate pair's round trip in ms from its STUN checks: the latest (Chromium), else the mean of
 * every check so far (Firefox reports only `totalRoundTripTime` and `responsesReceived`); null: neither.
 */
function roundTripOf(pair: Record<string, unknown>): number | null {
  if (typeof pair.currentRoundTripTime === 'number') return pair.currentRoundTripTime * 1000;
  const { totalRoundTripTime: total, responsesReceived: responses } = pair;
  return typeof total === 'number' && typeof responses === 'number' && responses > 0
    ? (total / responses) * 1000
    : null;
}

export interface SelectedPair {
  path: PeerPath;
  /** The pair's candidate types (which way the connection found: host, reflexive or relayed). */
  pair: CandidatePair;
  roundTripMs: number | null;
  /** How many STUN answers the pair has had: a reading at a new count is a new measurement. */
  checks: number | null;
}

/**
 * From the connection's selected ICE candidate pair: a relay candidate on either end means relayed;
 * and the pair's latest round trip (its STUN consent checks), where the browser reports it.
 */
export async function selectedPair(peer: SimplePeer.Instance): Promise<SelectedPair> {
  const unknown = { path: 'unknown' as const, pair: null, roundTripMs: null, checks: null };
  const connection = connectionOf(peer);
  if (!connection) return unknown;
  try {
    const report = await connection.getStats();
    const entries = new Map<string, Record<string, unknown>>();
    report.forEach((entry: Record<string, unknown>) => entries.set(String(entry.id), entry));
    const transport = [...entries.values()].find(
      (entry) => entry.type === 'transport' && typeof entry.selectedCandidatePairId === 'string',
    );
    // Chromium names the pair on the transport; Firefox marks the pair itself as selected.
    const pair = transport
      ? entries.get(String(transport.selectedCandidatePairId))
      : [...entries.values()].find(
          (entry) =>
            entry.type === 'candidate-pair' &&
            (entry.selected === true || (entry.nominated === true && entry.state === 'succeeded')),
        );
    if (!pair) return unknown;
    const local = entries.get(String(pair.localCandidateId));
    const remote = entries.get(String(pair.remoteCandidateId));
    const roundTripMs = roundTripOf(pair);
    const checks = typeof pair.responsesReceived === 'number' ? pair.responsesReceived : null;
    if (!local || !remote) return { path: 'unknown', pair: null, roundTripMs, checks };
    return {
      path: local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'relayed' : 'direct',
      pair: candidatePairOf(local.candidateType, remote.candidateType),
      roundTripMs,
      checks,
    };
  } catch {
    return unknown;
  }
}

const candidateTypes = new Set(['host', 'srflx', 'prflx', 'relay']);
type CandidateType = NonNullable<CandidatePair>['local'];
const isCandidateType = (value: unknown): value is CandidateType =>
  typeof value === 'string' && candidateTypes.has(value);

function candidatePairOf(local: unknown, remote: unknown): CandidatePair {
  return isCandidateType(local) && isCandidateType(remote) ? { local, remote } : null;
}

/** simple-peer keeps its RTCPeerConnection private; its stats and ICE restarts need it. */
export function connectionOf(peer: SimplePeer.Instance): RTCPeerConnection | null {
  return (peer as unknown as { _pc?: RTCPeerConnection })._pc ?? null;
}
