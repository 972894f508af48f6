/**
 * Reads Stryker's JSON report and prints the mutation score of each core folder and overall, ending
 * with the line docs/testing.md names: `mutation: S % killed of N mutants (lowest folder F: P %)`.
 * Killed counts what a test caught (killed, timed out); the base is every mutant a test could
 * reach or should (killed, timed out, survived, no coverage); compile errors are not mutants.
 */
import { readFileSync } from 'node:fs';

interface MutantResult {
  status: 'Killed' | 'Timeout' | 'Survived' | 'NoCoverage' | 'CompileError' | 'RuntimeError' | 'Ignored' | 'Pending';
}
interface Report {
  files: Record<string, { mutants: MutantResult[] }>;
}

const REPORT = 'reports/mutation/mutation.json';
const FOLDERS = ['core/queue', 'core/protocol', 'core/exit', 'core/peers', 'core/http'];

const report = JSON.parse(readFileSync(REPORT, 'utf8')) as Report;
const tally = new Map<string, { caught: number; total: number; survived: number; uncovered: number }>();
for (const [path, file] of Object.entries(report.files)) {
  const folder = FOLDERS.find((each) => path.includes(`/${each}/`));
  if (folder === undefined) continue;
  const counts = tally.get(folder) ?? { caught: 0, total: 0, survived: 0, uncovered: 0 };
  for (const mutant of file.mutants) {
    if (mutant.status === 'Killed' || mutant.status === 'Timeout') counts.caught += 1;
    else if (mutant.status === 'Survived') counts.survived += 1;
    else if (mutant.status === 'NoCoverage') counts.uncovered += 1;
    else continue;
    counts.total += 1;
  }
  tally.set(folder, counts);
}
const percent = (caught: number, total: number): number => (total === 0 ? 100 : (100 * caught) / total);
let caught = 0;
let total = 0;
let lowest: { folder: string; score: number } | null = null;
for (const [folder, counts] of [...tally].sort(([a], [b]) => a.localeCompare(b))) {
  const score = percent(counts.caught, counts.total);
  console.log(
    `${folder.padEnd(14)} ${score.toFixed(1).padStart(5)} %  (${counts.caught} killed of ${counts.total}; ${counts.survived} survived, ${counts.uncovered} not covered)`,
  );
  caught += counts.caught;
  total += counts.total;
  if (lowest === null || score < lowest.score) lowest = { folder, score };
}
console.log(
  `mutation: ${percent(caught, total).toFixed(1)} % killed of ${total} mutants (lowest folder ${lowest?.folder ?? 'none'}: ${(lowest?.score ?? 100).toFixed(1)} %)`,
);
