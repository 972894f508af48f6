/** A request's redirect mode, as fetch() has it. Apart from frames.ts so content scripts take it without a schema library. */
export const REDIRECT_MODES = ['follow', 'manual', 'error'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];
