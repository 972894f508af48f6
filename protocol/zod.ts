import { z } from 'zod';

/**
 * zod for both ends. Extension pages forbid eval (CSP script-src 'self'): there zod must not probe
 * for it, so it runs jitless; configured here, by the module every full-zod schema of either end
 * imports zod from, so no import order matters. The signaling server (Node) keeps zod's compiled
 * parsers: jitless there relayed ICE candidates at 1,987/s against 5,304/s (`npm run bench:signaling
 * relay`, one round each, same machine).
 */
const runtimeId = (api: unknown): unknown => (api as { runtime?: { id?: unknown } } | undefined)?.runtime?.id;
const inExtension =
  typeof runtimeId((globalThis as { chrome?: unknown }).chrome) === 'string' ||
  typeof runtimeId((globalThis as { browser?: unknown }).browser) === 'string';
if (inExtension) z.config({ jitless: true });

export { z };
