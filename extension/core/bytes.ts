/**
 * Whether `view` covers all of its (non-shared) buffer. Only then can the buffer be transferred
 * without taking bytes that are not the view's, and only then does a structured clone copy no more
 * than the view (a clone of a view copies its whole underlying buffer).
 */
export function spansBuffer(view: Uint8Array): view is Uint8Array<ArrayBuffer> {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
}

/** `parts` joined into one fresh buffer (`total`: their length, when the caller counted it already). */
export function joinBytes(
  parts: readonly Uint8Array[],
  total = parts.reduce((sum, part) => sum + part.byteLength, 0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** `view` itself when it spans its buffer, else a copy that does: at most one copy, made here. */
export function withOwnBuffer(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return spansBuffer(view) ? view : view.slice();
}

/** A Uint8Array from any realm (a structured clone may arrive from another one, where `instanceof` fails). */
export function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]';
}
