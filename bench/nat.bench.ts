import { mkdir, writeFile } from 'node:fs/promises';
import { natBehaviours, type NatBehaviour } from '../test/helpers/nat-lab';
import { startNatScene, type Attempt } from '../test/helpers/nat-scene';
import { percentile } from './probes';

/**
 * `npm run bench:nat` (root: network namespaces and nftables). In the NAT lab (test/helpers/nat-lab.ts,
 * nat-scene.ts), every pair of NAT kinds {none, full cone, address-restricted, port-restricted,
 * symmetric} (requester behind router A, exit behind router B), plus both ends relay-only behind
 * symmetric NATs. Per pair, PEERLANE_NAT_ATTEMPTS (30) fresh requesters, each started from nothing
 * (a new profile: registration, NAT probe, introduction, ICE) and routing one 256 KiB GET through
 * the exit, hash-checked: how many connected, the time from its start to the routed answer's head
 * (p50/p95), and which candidate pair won. Coturn is the lab's STUN and TURN server; an attempt gets
 * PEERLANE_NAT_DEADLINE_MS (20 s) before it counts as failed, with the reason kept.
 */
const ATTEMPTS = Number(process.env.PEERLANE_NAT_ATTEMPTS ?? 30);
const DEADLINE_MS = Number(process.env.PEERLANE_NAT_DEADLINE_MS ?? 20_000);

interface Row {
  requester: NatBehaviour;
  exit: NatBehaviour;
  relayOnly: boolean;
  attempts: Attempt[];
}
const rowName = (row: Pick<Row, 'requester' | 'exit' | 'relayOnly'>): string =>
  `${row.requester} × ${row.exit}${row.relayOnly ? ' (relay only)' : ''}`;

const pairs: Pick<Row, 'requester' | 'exit' | 'relayOnly'>[] = [];
natBehaviours.forEach((requester, index) => {
  for (const exit of natBehaviours.slice(index)) pairs.push({ requester, exit, relayOnly: false });
});
pairs.push({ requester: 'symmetric', exit: 'symmetric', relayOnly: true });
const only = process.env.PEERLANE_NAT_PAIRS?.split(',').map((name) => name.trim());
const chosen = only
  ? pairs.filter((pair) => only.includes(`${pair.requester}/${pair.exit}${pair.relayOnly ? '/relay-only' : ''}`))
  : pairs;

const scene = await startNatScene();
const rows: Row[] = [];
try {
  for (const pair of chosen) {
    await scene.startExit({ requester: pair.requester, exit: pair.exit }, pair.relayOnly);
    const row: Row = { ...pair, attempts: [] };
    rows.push(row);
    for (let index = 0; index < ATTEMPTS; index += 1) {
      const attempt = await scene.attempt({ relayOnly: pair.relayOnly, deadlineMs: DEADLINE_MS });
      row.attempts.push(attempt);
      if (!attempt.ok) console.error(`  ${rowName(pair)} attempt ${index + 1}: ${attempt.failure}`);
    }
    const ok = row.attempts.filter((attempt) => attempt.ok).length;
    console.error(`${rowName(pair)}: ${ok}/${ATTEMPTS}`);
  }
} finally {
  await scene.close();
}

const summaries = rows.map((row) => {
  const connected = row.attempts.filter((attempt) => attempt.ok);
  const ttfb = connected.map((attempt) => attempt.ttfbMs!);
  const won = new Map<string, number>();
  for (const attempt of connected) won.set(attempt.pair ?? '?', (won.get(attempt.pair ?? '?') ?? 0) + 1);
  const first = row.attempts[0];
  return {
    name: rowName(row),
    reported: first ? `${first.nat.requester}/${first.nat.exit}` : '–',
    successPercent: (100 * connected.length) / row.attempts.length,
    attempts: row.attempts.length,
    ttfbP50: percentile(ttfb, 0.5),
    ttfbP95: percentile(ttfb, 0.95),
    pairs: [...won].sort((a, b) => b[1] - a[1]).map(([pair, count]) => `${pair} ${count}`),
    failures: row.attempts.filter((attempt) => !attempt.ok).map((attempt) => attempt.failure),
  };
});

console.log(
  `\nNAT lab: ${ATTEMPTS} fresh requesters per pair, 256 KiB GET hash-checked, deadline ${DEADLINE_MS} ms; TTFB from the requester's start`,
);
console.log(
  ['pair (requester × exit)', 'reported', 'connected', 'TTFB p50', 'TTFB p95', 'pairs won (local→remote)']
    .map((cell, index) => (index === 0 ? cell.padEnd(44) : index === 5 ? `  ${cell}` : cell.padStart(11)))
    .join(''),
);
for (const summary of summaries) {
  console.log(
    [
      summary.name.padEnd(44),
      summary.reported.padStart(11),
      `${summary.successPercent.toFixed(0)} %`.padStart(11),
      (Number.isFinite(summary.ttfbP50) ? `${summary.ttfbP50.toFixed(0)} ms` : '–').padStart(11),
      (Number.isFinite(summary.ttfbP95) ? `${summary.ttfbP95.toFixed(0)} ms` : '–').padStart(11),
      `  ${summary.pairs.join(', ')}`,
    ].join(''),
  );
}

await mkdir('bench/results', { recursive: true });
const date = new Date().toISOString();
const file = `bench/results/nat-${date.replace(/[:.]/g, '-')}.json`;
await writeFile(
  file,
  JSON.stringify({ date, attemptsPerPair: ATTEMPTS, deadlineMs: DEADLINE_MS, rows, summaries }, null, 2),
);
console.log(`wrote ${file}`);

const total = rows.reduce((sum, row) => sum + row.attempts.length, 0);
const connected = rows.reduce((sum, row) => sum + row.attempts.filter((attempt) => attempt.ok).length, 0);
const possible = summaries.filter((summary) => summary.successPercent > 0);
const impossible = summaries.filter((summary) => summary.successPercent === 0).map((summary) => summary.name);
const worst = possible.reduce<(typeof summaries)[number] | null>(
  (found, summary) => (found === null || summary.successPercent < found.successPercent ? summary : found),
  null,
);
const allTtfb = rows.flatMap((row) => row.attempts.filter((attempt) => attempt.ok).map((attempt) => attempt.ttfbMs!));
console.log(
  `nat: ${total ? ((100 * connected) / total).toFixed(1) : '–'} % of ${total} attempts connected (worst possible pair ${worst ? worst.successPercent.toFixed(1) : '–'} %: ${worst?.name ?? '–'}), TTFB p95 ${Number.isFinite(percentile(allTtfb, 0.95)) ? percentile(allTtfb, 0.95).toFixed(0) : '–'} ms; impossible pairs: ${impossible.length ? impossible.join(', ') : 'none'}`,
);
