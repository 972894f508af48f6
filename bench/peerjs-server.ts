import { PeerServer } from 'peer';

/**
 * PeerJS's own signaling server (npm `peer`), for `npm run bench:signaling` to measure beside ours:
 * configured only so the same load fits (its default cap is 5,000 clients), everything else as
 * shipped. The bench reads its memory from /proc, as for the other servers.
 */
PeerServer({ port: Number(process.argv[2] ?? 9000), host: '127.0.0.1', path: '/', concurrent_limit: 50_000 }, () =>
  process.stdout.write('listening\n'),
);
