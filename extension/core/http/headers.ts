/** A header list as frames carry it: name and value pairs, names in any case, a name possibly repeated. */
export type Header = readonly [string, string];

/**
 * The value of header `name` (lower case), or null: repeated fields combined with ", " as the Fetch
 * standard's "get" does, so a list split over several fields reads whole.
 */
export function headerValue(headers: readonly Header[], name: string): string | null {
  const values = headers.filter(([key]) => key.toLowerCase() === name).map(([, value]) => value);
  return values.length === 0 ? null : values.join(', ');
}

/** webRequest's header objects (`{ name, value }`, value absent for binary ones) as a header list. */
export function headerPairs(headers: readonly { name: string; value?: string }[] | undefined): Header[] {
  return (headers ?? []).flatMap(({ name, value }) => (value === undefined ? [] : [[name, value] as const]));
}
