import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A minimal TCP load balancer on loopback, standing in for the operator's: each new connection goes
 * to the next backend in turn; a backend that refuses is skipped for that connection. It knows
 * nothing of WebSockets or Peerlane, as a real balancer would not.
 */
export interface TcpBalancer {
  port: number;
  close(): Promise<void>;
}

export async function startTcpBalancer(backendPorts: number[]): Promise<TcpBalancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    client.pause();
    const tryBackend = (attemptsLeft: number): void => {
      if (attemptsLeft === 0) {
        client.destroy();
        return;
      }
      const port = backendPorts[next % backendPorts.length]!;
      next += 1;
      const backend = connect({ host: '127.0.0.1', port });
      let connected = false;
      backend.on('error', () => {
        if (connected) client.destroy();
        else tryBackend(attemptsLeft - 1);
      });
      backend.once('connect', () => {
        connected = true;
        track(backend);
        client.on('error', () => backend.destroy());
        client.pipe(backend);
        backend.pipe(client);
        client.resume();
        backend.once('close', () => client.destroy());
        client.once('close', () => backend.destroy());
      });
    };
    tryBackend(backendPorts.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
