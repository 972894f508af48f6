/** A decoder for the charset a `Content-Type` names, or UTF-8 when it names none or one unknown here. */
export function decoderFor(contentType: string | null): TextDecoder {
  const label = /charset=["']?([\w-]+)/i.exec(contentType ?? '')?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(label);
  } catch {
    return new TextDecoder();
  }
}
