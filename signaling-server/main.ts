import { resolve } from 'node:path';
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
const dist = resolve('dist');
process.stdout.write(
  [
    '',
    `Peerlane signaling server: ${server.url}   (Ctrl+C to stop)`,
    'Load the unpacked extension:',
    `  Chrome/Chromium: chrome://extensions → Developer mode → Load unpacked → ${resolve(dist, 'chrome')}`,
    `  Firefox:         about:debugging#/runtime/this-firefox → Load Temporary Add-on → ${resolve(dist, 'firefox', 'manifest.json')}`,
    `The extension's default signaling URL is ws://127.0.0.1:8787; change it in Peerlane's settings if you moved the server.`,
    '',
  ].join('\n') + '\n',
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing`);
    void server.close().then(() => process.exit(0));
  });
}
