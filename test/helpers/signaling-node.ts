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
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString().slice(0, 10_000);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString().slice(0, 10_000);
  });
  // Ready when /healthz answers (bounded); a node that exits first reports why.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`signaling node exited with ${child.exitCode}: ${output}`);
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline)
      throw new Error(`signaling node on ${port} not answering /healthz within 15 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
