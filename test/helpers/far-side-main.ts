import { startSignalingServer } from '../../signaling-server/server';
import { answersFromHostRules, startDohServer } from './doh-server';
import { DEV_ORIGIN_ADDRESS, startOriginServer } from './origin-server';
import { FAR_ADDRESS } from './wan-link';

/**
 * The servers on the far side of an emulated link (test/helpers/wan-link.ts), run inside the far
 * namespace: the origin (on the exit's loopback, and on the link address for TCP baselines) and the
 * signaling server (on the link address, so the requester's signaling crosses the link too), and the
 * resolver a Chromium exit on this side asks (origin.peerlane.test: the origin's loopback address). Prints
 * one JSON line with their ports, then serves until killed. argv[2]: the big body's size in bytes.
 */
const bigBytes = Number(process.argv[2] ?? 5 * 1024 * 1024);
const origin = await startOriginServer({ bigBytes, alsoListenOn: [FAR_ADDRESS] });
const signaling = await startSignalingServer({ host: FAR_ADDRESS, port: 0, messagesPerSecond: 1000 });
const resolver = await startDohServer(answersFromHostRules([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]));
process.stdout.write(
  `${JSON.stringify({ originPort: origin.port, signalingUrl: signaling.url, bigSha256: origin.bigSha256, exitResolver: resolver.url })}\n`,
);
