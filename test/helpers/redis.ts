import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's redis-server on a free loopback port, no persistence; started and stopped by the test. */
export interface RedisProcess {
  url: string;
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts Debian's redis-server with `args`; resolves once it accepts connections (bounded). */
async function spawnRedis(args: string[]): Promise<ChildProcess> {
  const child: ChildProcess = spawn(process.env.REDIS_SERVER ?? '/usr/bin/redis-server', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not become ready within 10 s')), 10_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
  });
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  const child = await spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopProcess(child) };
}

/** A local Redis Cluster of three masters (no replicas), made with redis-cli --cluster create; sharded pub/sub needs Redis 7. */
export interface RedisClusterProcess {
  nodes: { host: string; port: number }[];
  stop: () => Promise<void>;
}

export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'peerlane-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < masters) {
    const port = await freePort();
    // A cluster node also listens on port + 10000 (the bus): keep both free and distinct.
    if (!ports.includes(port) && port < 55_000) ports.push(port);
  }
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopProcess));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      children.push(
        await spawnRedis([
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
        ]),
      );
    }
    const cli = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';
    await new Promise<void>((resolve, reject) =>
      execFile(
        cli,
        [
          '--cluster',
          'create',
          ...ports.map((port) => `127.0.0.1:${port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: 20_000 },
        (error, stdout) =>
          error ? reject(new Error(`redis-cli --cluster create failed: ${error.message} ${stdout}`)) : resolve(),
      ),
    );
    // Ready when every node agrees the cluster is ok (bounded).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(
        ports.map(
          (port) =>
            new Promise<string>((resolve) =>
              execFile(cli, ['-p', String(port), 'cluster', 'info'], (error, stdout) => resolve(error ? '' : stdout)),
            ),
        ),
      );
      if (states.every((state) => state.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
