import * as z from 'zod/mini';

// Extension pages forbid eval (CSP script-src 'self'): zod must not probe for
// it. Configured here, by the module every schema imports zod from, so no import order matters.
z.config({ jitless: true });

export { z };
