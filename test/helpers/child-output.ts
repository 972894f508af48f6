import type { ChildProcess } from 'node:child_process';

/**
 * Waits (bounded) until a child's output (stdout and stderr) matches `pattern`, and returns the
 * match; rejects with the output's tail if the child exits first or the time runs out. Stops
 * listening once it settles, so a long-running child's later output is not kept.
 */
export function outputMatch(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const settle = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', read);
      child.stderr?.off('data', read);
      child.off('exit', exited);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new Error(`${what}: no ${pattern} within ${timeoutMs} ms; output: ${output.slice(-2000)}`));
    }, timeoutMs);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (!match) return;
      settle();
      resolve(match);
    };
    const exited = (code: number | null): void => {
      settle();
      reject(new Error(`${what} exited with ${code}: ${output.slice(-2000)}`));
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', exited);
  });
}
