/**
 * The credit windows both roles of a session keep (requester-streams.ts grants them, exit-streams.ts
 * spends them). A response stream starts at DEFAULT_STREAM_WINDOW.
 */
export const DEFAULT_STREAM_WINDOW = 256 * 1024;
/**
 * A response stream's window grows from DEFAULT_STREAM_WINDOW up to this when it is what limits the
 * transfer (see `acknowledge`): a fixed 256 KiB caps one stream at 5 MB/s at 50 ms and 1.7 MB/s at
 * 150 ms whatever the path could carry. Measured over the emulated 50 Mbit/s, 50 ms path
 * (`npm run bench:wan`): one 20 MB GET 1.35 MB/s at 256 KiB, 2.0 MB/s at 2 MiB.
 */
export const MAX_STREAM_WINDOW = 8 * 1024 * 1024;
/** The sum of every response stream's window on one session: bounds what a requester may buffer for one peer. */
export const MAX_SESSION_WINDOW = 32 * 1024 * 1024;
/**
 * A response that is not known to be small is given up to this much window as soon as its head
 * arrives (a quarter of what the session has left) when its peer is striped: growing from 256 KiB
 * by the round-trip rule (`acknowledge`) tracks rate × RTT, but over striped lanes one stalled
 * association holds the whole stream for its retransmission timer (a second or more) and the window
 * must cover that. Measured over the emulated 50 Mbit/s, 50 ms path on eight lanes (`npm run
 * bench:wan`, same session, A/B): one 20 MB GET with 1 % loss 1.44–1.69 MB/s growing from 256 KiB,
 * 1.84–1.99 from the head's window; without loss 1.69–2.84 against 2.52–3.79. On one lane the
 * growing window keeps SCTP from filling the router's queue: there it stays as it was.
 */
export const HEAD_STREAM_WINDOW = 4 * 1024 * 1024;
/**
 * A request body's window: what a requester may send ahead of the exit's CREDIT. The first window
 * goes with the head (a small POST waits for no round trip); the exit returns credit as bytes arrive.
 */
export const REQUEST_BODY_WINDOW = 256 * 1024;
