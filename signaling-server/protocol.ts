import { z } from 'zod';

/**
 * The signaling protocol, one discriminated union per direction. The server validates every client
 * message with these schemas; the extension validates every server message with them. Defined once,
 * imported by both.
 */
export const SIGNALING_PROTOCOL = 1;
export const MAX_SIGNALING_MESSAGE_BYTES = 64 * 1024;

const peerId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/** simple-peer's signal payloads (offer/answer SDP, trickled candidates, renegotiation): relayed opaquely but bounded. */
const signalData = z
  .object({ type: z.string().max(32).optional(), sdp: z.string().max(48 * 1024).optional() })
  .catchall(z.unknown());

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('register'),
    protocol: z.literal(SIGNALING_PROTOCOL),
    exit: z.boolean(),
    capacity: z.number().int().min(0).max(1000),
    load: z.number().int().min(0).max(100_000),
  }),
  z.object({
    type: z.literal('update'),
    exit: z.boolean(),
    capacity: z.number().int().min(0).max(1000),
    load: z.number().int().min(0).max(100_000),
  }),
  z.object({ type: z.literal('find-exits'), count: z.number().int().min(1).max(8), exclude: z.array(peerId).max(64) }),
  z.object({ type: z.literal('signal'), to: peerId, data: signalData }),
]);

export const exitSummarySchema = z.object({ peerId, capacity: z.number().int(), load: z.number().int() });
export const iceServerSchema = z.object({ urls: z.array(z.string().max(256)).max(8), username: z.string().max(256), credential: z.string().max(256) });

export const serverMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('registered'),
    peerId,
    heartbeatMs: z.number().int(),
    /** An exit re-sends `update` at least this often, or signaling stops introducing it. */
    refreshMs: z.number().int().min(50),
    /** TURN servers with time-limited credentials (coturn REST scheme), when the operator runs one. */
    iceServers: z.array(iceServerSchema).max(4),
  }),
  z.object({ type: z.literal('exits'), exits: z.array(exitSummarySchema) }),
  z.object({ type: z.literal('signal'), from: peerId, data: signalData }),
  z.object({ type: z.literal('peer-gone'), peerId }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** The server is going away (graceful shutdown): reconnect within `withinMs` (jittered), possibly to another node. */
  z.object({ type: z.literal('reconnect'), reason: z.string().max(256), withinMs: z.number().int().min(0).max(60_000) }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ExitSummary = z.infer<typeof exitSummarySchema>;
export type SignalData = z.infer<typeof signalData>;
export type IceServerConfig = z.infer<typeof iceServerSchema>;
