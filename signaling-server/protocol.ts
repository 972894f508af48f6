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

export const serverMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('registered'), peerId, heartbeatMs: z.number().int() }),
  z.object({ type: z.literal('exits'), exits: z.array(exitSummarySchema) }),
  z.object({ type: z.literal('signal'), from: peerId, data: signalData }),
  z.object({ type: z.literal('peer-gone'), peerId }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ExitSummary = z.infer<typeof exitSummarySchema>;
export type SignalData = z.infer<typeof signalData>;
