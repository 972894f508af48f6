import { pino } from 'pino';
import { startSignalingServer } from './server';

/** `npm start` / `npm run signaling`: one process, in-memory state. PEERLANE_HOST / PEERLANE_PORT override. */
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const port = Number(process.env.PEERLANE_PORT ?? 8787);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  logger.error(`PEERLANE_PORT must be a port number, got ${process.env.PEERLANE_PORT}`);
  process.exit(2);
}
const server = await startSignalingServer({ host: process.env.PEERLANE_HOST ?? '127.0.0.1', port, logger });
logger.info(`Peerlane signaling on ${server.url} (health: ${server.url.replace(/^ws/, 'http')}/healthz)`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing`);
    void server.close().then(() => process.exit(0));
  });
}
