/** What a schema check returns: the typed message, or a one-line reason (counted, never thrown). */
export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

/** Anything with zod's `safeParse` (classic and mini schemas alike). */
export interface SafeParser<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Parses or returns a typed error; callers count it and drop the message, never crash. */
export function parseMessage<T>(schema: SafeParser<T>, value: unknown): Parsed<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    error: issue ? `${issue.path.map(String).join('.') || 'message'}: ${issue.message}` : 'invalid message',
  };
}
