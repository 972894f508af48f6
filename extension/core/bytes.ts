/**
 * Whether `view` covers all of its (non-shared) buffer. Only then can the buffer be transferred
 * without taking bytes that are not the view's, and only then does a structured clone copy no more
 * than the view (a clone of a view copies its whole underlying buffer).
 */
export function spansBuffer(view: Uint8Array): view is Uint8Array<ArrayBuffer> {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
}

/** `view` itself when it spans its buffer, else a copy that does: at most one copy, made here. */
export function withOwnBuffer(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return spansBuffer(view) ? view : view.slice();
}
