import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A signaling node as operators run it: its own process (`signaling-server/main.ts`), configured by
 * environment, so a test can kill it outright (SIGKILL) or ask it to drain (SIGTERM).
 */
export interface SignalingNode {
  port: number;
  url: string;
  process: ChildProcess;
  kill(): Promise<void>;
}

export async function startSignalingNode(port: number, env: Record<string, string>): Promise<SignalingNode> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'signaling-server/main.ts'], {
    env: { ...process.env, PEERLANE_PORT: String(port), PEERLANE_QUIET: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`signaling node on ${port} not listening within 15 s`)), 15_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('signaling server listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`signaling node exited with ${code}: ${output}`));
    });
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    process: child,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
