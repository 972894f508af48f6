import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** An executable in `dir` that runs `program` inside network namespace `ns`, for launchers that take a path (browsers). */
export async function namespaceWrapper(dir: string, ns: string, program: string): Promise<string> {
  const path = join(dir, `${ns}-${program.split('/').pop()}`);
  await writeFile(path, `#!/bin/sh\nexec ip netns exec ${ns} ${program} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}
