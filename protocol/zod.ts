import { z } from 'zod';

// Extension pages forbid eval (CSP script-src 'self'): zod must not probe for it. Configured here,
// by the module every full-zod schema of either end imports zod from, so no import order matters.
z.config({ jitless: true });

export { z };
