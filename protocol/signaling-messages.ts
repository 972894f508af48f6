import { z } from './zod';
import {
  CIRCLE_KEY_CHARS,
  circleRefusalReasons,
  MAX_CIRCLE_NAME,
  MAX_CIRCLES_PER_PEER,
  MAX_REVOKED_PER_CIRCLE,
  shareWithValues,
} from './circle-proof';

/**
 * The signaling protocol, one discriminated union per direction. The server validates every client
 * message with these schemas; the extension validates every server message with them. Defined once,
 * imported by both.
 */
export const SIGNALING_PROTOCOL = 2;
export const MAX_SIGNALING_MESSAGE_BYTES = 64 * 1024;

const peerId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
const base64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/);

/** simple-peer's signal payloads (offer/answer SDP, trickled candidates, renegotiation): relayed opaquely but bounded. */
/**
 * How a peer is reachable, as it learned from the candidates it gathered (`nat-probe.ts`): `open`, a
 * host address is its public one; `cone`, behind a NAT that keeps one mapping for every destination;
 * `symmetric`, a new mapping per destination (two STUN servers saw different ports); `blocked`, STUN
 * configured but never answered (UDP filtered); `unknown`, not probed or no STUN server to ask.
 */
export const natKinds = ['unknown', 'open', 'cone', 'symmetric', 'blocked'] as const;
export const natSchema = z.enum(natKinds);

const signalData = z
  .object({
    type: z.string().max(32).optional(),
    sdp: z
      .string()
      .max(48 * 1024)
      .optional(),
  })
  .catchall(z.unknown());

const circleKey = z
  .string()
  .length(CIRCLE_KEY_CHARS)
  .regex(/^[A-Za-z0-9_-]*$/);
const inviteId = base64url(32).min(8);
/** A circle's membership credential, as an invite link carries it (`circle-proof.ts`). */
export const memberCredentialSchema = z.object({
  circle: circleKey,
  name: z.string().min(1).max(MAX_CIRCLE_NAME),
  invite: inviteId,
  signature: base64url(128),
});
/** A circle's signed list of revoked invites (`circle-proof.ts`). */
export const revocationListSchema = z.object({
  circle: circleKey,
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  revoked: z.array(inviteId).max(MAX_REVOKED_PER_CIRCLE),
  signature: base64url(128),
});
export const shareWithSchema = z.enum(shareWithValues);
/** What a peer says of its circles: its credentials, the revocation lists it holds, and whom it serves as an exit. */
export const circlesStateSchema = z.object({
  credentials: z.array(memberCredentialSchema).max(MAX_CIRCLES_PER_PEER),
  revocations: z.array(revocationListSchema).max(MAX_CIRCLES_PER_PEER * 2),
  shareWith: shareWithSchema,
});
/** Peers a find-exits may exclude: those connected and those the requester caught altering answers (up to 64). */
export const MAX_EXCLUDED_EXITS = 256;
/** Why a requester reports an exit: its answer differed from two other exits' for the same strongly validated URL. */
export const exitReportReasons = ['altered_body'] as const;

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('register'),
    protocol: z.literal(SIGNALING_PROTOCOL),
    /** Ed25519 public key (raw, base64url); the peer id derives from it (`identity-proof.ts`). */
    publicKey: base64url(64),
    /** Signature of `registrationProofText(host, nonce)` with the matching private key. */
    signature: base64url(128),
    exit: z.boolean(),
    capacity: z.number().int().min(0).max(1000),
    load: z.number().int().min(0).max(100_000),
    nat: natSchema,
    /** Absent: no circles, serves everyone. */
    circles: circlesStateSchema.optional(),
  }),
  z.object({
    type: z.literal('update'),
    exit: z.boolean(),
    capacity: z.number().int().min(0).max(1000),
    load: z.number().int().min(0).max(100_000),
    nat: natSchema,
    /** Absent: unchanged since the last one sent. */
    circles: circlesStateSchema.optional(),
  }),
  /** `preferCircles`: exits of the requester's circles first, whatever their load. */
  z.object({
    type: z.literal('find-exits'),
    count: z.number().int().min(1).max(8),
    exclude: z.array(peerId).max(MAX_EXCLUDED_EXITS),
    preferCircles: z.boolean().optional(),
  }),
  /** A requester caught this exit answering differently from two others (`core/checks/`); enough independent reports and it is no longer introduced. */
  z.object({ type: z.literal('report-exit'), peerId, reason: z.enum(exitReportReasons) }),
  z.object({ type: z.literal('signal'), to: peerId, data: signalData }),
]);

/** `relay`: the two peers' NATs cannot meet directly; connect through the TURN relay from the start. */
/** `circles`: the circles the requester shares with this exit (empty: introduced as a public exit). */
export const exitSummarySchema = z.object({
  peerId,
  capacity: z.number().int(),
  load: z.number().int(),
  relay: z.boolean(),
  circles: z.array(circleKey).max(MAX_CIRCLES_PER_PEER).optional(),
});
/** STUN servers have no credentials; TURN servers carry time-limited ones (coturn REST scheme). */
export const iceServerSchema = z.object({
  urls: z.array(z.string().max(256)).min(1).max(8),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
});

export const serverMessageSchema = z.discriminatedUnion('type', [
  /** First message on every connection: the nonce a `register` must sign. */
  z.object({ type: z.literal('challenge'), nonce: base64url(64) }),
  z.object({
    type: z.literal('registered'),
    peerId,
    heartbeatMs: z.number().int(),
    /** An exit re-sends `update` at least this often, or signaling stops introducing it. */
    refreshMs: z.number().int().min(50),
    /** The operator's STUN servers and TURN servers (time-limited credentials); empty: the extension's default STUN. */
    iceServers: z.array(iceServerSchema).max(8),
  }),
  /**
   * `unreachable`: exits online that this requester cannot meet (both NATs defeat a direct path and
   * the server offers no relay), so not introduced; absent: none.
   */
  z.object({
    type: z.literal('exits'),
    exits: z.array(exitSummarySchema),
    unreachable: z.number().int().min(0).optional(),
  }),
  z.object({ type: z.literal('signal'), from: peerId, data: signalData }),
  z.object({ type: z.literal('peer-gone'), peerId }),
  /** Which of this peer's circle credentials signaling accepted, and why it refused the others (`revoked`, `bad_signature`). */
  z.object({
    type: z.literal('circles'),
    member: z.array(circleKey).max(MAX_CIRCLES_PER_PEER),
    refused: z.array(z.object({ circle: circleKey, reason: z.enum(circleRefusalReasons) })).max(MAX_CIRCLES_PER_PEER),
  }),
  /** A newer revocation list for one of this peer's circles: keep it and hand it back at registration. */
  z.object({ type: z.literal('circle-revocation'), list: revocationListSchema }),
  /** This partner may no longer be served (revoked, left the circle, or the exit narrowed whom it serves): close the connection. */
  z.object({ type: z.literal('access-ended'), peerId, reason: z.string().max(256) }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** The server is going away (graceful shutdown): reconnect within `withinMs` (jittered), possibly to another node. */
  z.object({
    type: z.literal('reconnect'),
    reason: z.string().max(256),
    withinMs: z.number().int().min(0).max(60_000),
  }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ExitSummary = z.infer<typeof exitSummarySchema>;
export type SignalData = z.infer<typeof signalData>;
export type IceServerConfig = z.infer<typeof iceServerSchema>;
export type NatKind = z.infer<typeof natSchema>;
export type CirclesState = z.infer<typeof circlesStateSchema>;
