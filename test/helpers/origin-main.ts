import { answersFromHostRules, startDohServer } from './doh-server';
import { DEV_ORIGIN_ADDRESS, startOriginServer } from './origin-server';

/**
 * The origin server and an exit's resolver as their own process, for a network namespace (the NAT
 * lab runs one in the exit's home and one on the "public" side). Prints one JSON line with the
 * origin's port, the big body's SHA-256 and the resolver's URL (origin.peerlane.test: the origin's
 * loopback address), then serves until killed. argv[2]: the big body's size in bytes; argv[3…]: more
 * addresses for the origin to listen on.
 */
const bigBytes = Number(process.argv[2] ?? 1024 * 1024);
const origin = await startOriginServer({ bigBytes, alsoListenOn: process.argv.slice(3) });
const resolver = await startDohServer(answersFromHostRules([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]));
process.stdout.write(
  `${JSON.stringify({ originPort: origin.port, bigSha256: origin.bigSha256, exitResolver: resolver.url })}\n`,
);
