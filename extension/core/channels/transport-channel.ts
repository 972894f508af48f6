import { circleRefusalReasons, shareWithValues } from '../../../protocol/circle-proof';
import { MAX_FLAGGED_EXITS } from '../checks/exit-checks';
import { exitReportReasons, natKinds } from '../../../protocol/signaling-messages';
import { withOwnBuffer } from '../bytes';
import { MAX_LANES } from '../peers/lanes';
import { bytesSchema } from './common';
import { z } from '../schema/zod-mini';

/**
 * The background ⇄ the transport host (signaling + peer connections). Chrome: service worker ⇄
 * offscreen document by postMessage with the frame's buffer transferred, validated on entry to
 * each side. Firefox: one page, direct calls, no serialisation and no parse (nothing crosses a boundary).
 */
/** A circle's revocation list as it crosses to the background (the background checks its signature before keeping it). */
const revocationList = z.object({
  circle: z.string(),
  version: z.number(),
  revoked: z.array(z.string()),
  signature: z.string(),
});
export const transportConfigSchema = z.object({
  signalingUrl: z.string(),
  signalingToken: z.string(),
  relayOnly: z.boolean(),
  stunServers: z.array(z.string()),
  lanesPerExit: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_LANES)),
  autoLanes: z.boolean(),
  share: z.boolean(),
  exitCapacity: z.number().check(z.int(), z.minimum(0)),
  wantExits: z.boolean(),
  /** What signaling is told of this install's circles (protocol/signaling-messages.ts `circlesStateSchema` checks it in full). */
  circles: z.object({
    credentials: z.array(z.object({ circle: z.string(), name: z.string(), invite: z.string(), signature: z.string() })),
    revocations: z.array(revocationList),
    shareWith: z.enum(shareWithValues),
  }),
  preferCircles: z.boolean(),
  /** Exits this install caught altering answers: never asked for, never connected to again. */
  avoidExits: z.array(z.string()).check(z.maxLength(MAX_FLAGGED_EXITS)),
});
/** Signaling's verdict on this install's circle credentials (accepted; refused and why). */
export const circleMembershipSchema = z.object({
  member: z.array(z.string()),
  refused: z.array(z.object({ circle: z.string(), reason: z.enum(circleRefusalReasons) })),
});
const role = z.enum(['requester', 'exit']);
const count = z.number().check(z.int(), z.minimum(0));
/** A striped connection's recovery of stalled lanes (core/peers/lanes.ts), in messages. */
export const laneRecoverySchema = z.object({
  /** Numbers we asked the peer to send again (a gap waited too long). */
  asked: count,
  /** Messages we sent again because the peer asked. */
  resent: count,
  /** Copies that arrived after all and were dropped. */
  duplicates: count,
});
const peerPath = z.enum(['direct', 'relayed', 'unknown']);
/** The selected ICE candidate pair's types (RFC 8445: host, server- or peer-reflexive, relayed); null until read. */
const candidateType = z.enum(['host', 'srflx', 'prflx', 'relay']);
export const candidatePairSchema = z.nullable(z.object({ local: candidateType, remote: candidateType }));
export const toTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('configure'), config: transportConfigSchema }),
  /** Requests wait for an exit; `paused`: connected exits that paused sharing, which count as none. */
  z.object({
    type: z.literal('need-exits'),
    paused: z.optional(z.array(z.string().check(z.maxLength(128))).check(z.maxLength(64))),
  }),
  z.object({ type: z.literal('frame'), peerId: z.string(), data: bytesSchema }),
  z.object({ type: z.literal('close-peer'), peerId: z.string(), reason: z.string() }),
  /** An exit caught altering an answer: tell signaling, which stops introducing it after enough reports (the connection ends by `avoidExits`). */
  z.object({ type: z.literal('report-exit'), peerId: z.string(), reason: z.enum(exitReportReasons) }),
]);
export const transportStatusSchema = z.object({
  signaling: z.enum(['offline', 'connecting', 'connected']),
  selfId: z.nullable(z.string()),
  availableExits: z.number().check(z.int()),
  /** Exits online that signaling did not introduce because they cannot reach this browser (no relay offered). */
  unreachableExits: z.number().check(z.int(), z.minimum(0)),
  /** What this browser learned of its NAT (protocol/signaling-messages.ts `natKinds`). */
  nat: z.enum(natKinds),
  /** Null until signaling judged them on this connection. */
  circles: z.nullable(circleMembershipSchema),
  /** What the browser tells of the device (null: it does not), for sharing that pauses on battery or a metered link. */
  device: z.object({ onBattery: z.nullable(z.boolean()), metered: z.nullable(z.boolean()) }),
});
export const fromTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('transport-ready') }),
  /** `path`: how the connection runs, from its selected ICE candidate pair (a TURN relay on either end: relayed). */
  /**
   * A peer's connection is up. `connection` names that connection (the mesh counts them): the same
   * one reported again (after every configure, so a restarted background rebuilds its sessions) keeps
   * the session it has; a new one replaces it.
   */
  z.object({
    type: z.literal('peer-up'),
    peerId: z.string(),
    remoteRole: role,
    path: peerPath,
    pair: candidatePairSchema,
    connection: count,
  }),
  z.object({ type: z.literal('peer-path'), peerId: z.string(), path: peerPath, pair: candidatePairSchema }),
  /** The peer's connection lost its path and is being restarted (ICE restart); it comes back or goes down within `graceMs`. */
  z.object({
    type: z.literal('peer-reconnecting'),
    peerId: z.string(),
    graceMs: z.number().check(z.int(), z.minimum(0), z.maximum(120_000)),
  }),
  /** How many of the peer's connections are open (more than one: its frames are striped over them), and what stalled lanes cost so far. */
  z.object({
    type: z.literal('peer-lanes'),
    peerId: z.string(),
    lanes: z.number().check(z.int(), z.minimum(1)),
    recovery: laneRecoverySchema,
  }),
  z.object({ type: z.literal('peer-down'), peerId: z.string(), reason: z.string() }),
  z.object({ type: z.literal('frame'), peerId: z.string(), data: bytesSchema }),
  z.object({ type: z.literal('status'), status: transportStatusSchema }),
  /** Signaling pushed a newer revocation list for one of this install's circles: the background checks and keeps it. */
  z.object({ type: z.literal('circle-revocation'), list: revocationList }),
]);

export type TransportConfig = z.infer<typeof transportConfigSchema>;
export type ToTransport = z.infer<typeof toTransportSchema>;
export type FromTransport = z.infer<typeof fromTransportSchema>;
export type TransportStatus = z.infer<typeof transportStatusSchema>;
/** How a connection runs: straight between the two browsers, or through a TURN relay. */
export type PeerPath = z.infer<typeof peerPath>;
export type CandidatePair = z.infer<typeof candidatePairSchema>;
export const samePair = (a: CandidatePair, b: CandidatePair): boolean =>
  a?.local === b?.local && a?.remote === b?.remote;
export type LaneRecovery = z.infer<typeof laneRecoverySchema>;

/** One side of the link, whatever carries it. */
export interface TransportLink {
  send(message: ToTransport): void;
}

/**
 * A message ready for `postMessage` across contexts, with its transfer list: a frame's bytes are
 * handed over, not copied (a frame that shares a larger buffer is copied once, so it can be).
 */
export function forTransfer<M extends ToTransport | FromTransport>(
  message: M,
): { message: M; transfer: ArrayBuffer[] } {
  if (message.type !== 'frame') return { message, transfer: [] };
  const data = withOwnBuffer(message.data);
  return { message: { ...message, data }, transfer: [data.buffer] };
}
export type CircleMembership = z.infer<typeof circleMembershipSchema>;
