/**
 * The rest of a routed page's ways out, beyond window.fetch and XMLHttpRequest (page-hook.ts): each
 * is routed through the same fetch, or refused with a clear error; none goes out directly unsaid.
 * - same-origin frames (about:blank, srcdoc, same-origin documents): their fetch and XMLHttpRequest
 *   are the hooked ones, installed when the page first reaches the frame's window (libraries borrow a
 *   clean fetch from a fresh iframe, before any content script could run in it); frames that load
 *   later also get the content scripts themselves (allFrames, matchOriginAsFallback).
 * - navigator.sendBeacon: a routed POST, sent without waiting, as a beacon is.
 * - EventSource: over the routed fetch's streamed body (text/event-stream parsed here).
 * - WebSocket: refused as an unreachable server is (error, then close 1006): libraries then fall back
 *   to HTTP, which is routed. A tunnel through the exit is not built.
 * - Worker and SharedWorker: refused with a SecurityError: a worker's requests cannot be hooked.
 */

type Fetch = typeof window.fetch;

const WARNING = '[peerlane]';

/** The platform's state constants (XMLHttpRequest.DONE, EventSource.OPEN…) on a class and its instances, read-only, as the platform has them. */
export function defineStates(target: { prototype: object }, states: readonly string[]): void {
  states.forEach((name, value) => {
    Object.defineProperty(target, name, { value, enumerable: true });
    Object.defineProperty(target.prototype, name, { value, enumerable: true });
  });
}

/** Dispatches `event` and calls the matching `on…` property, as the platform's own objects do. */
export function emit(target: EventTarget, event: Event): void {
  target.dispatchEvent(event);
  const handler = (target as unknown as Record<string, unknown>)[`on${event.type}`];
  if (typeof handler === 'function') (handler as (event: Event) => void).call(target, event);
}

/** Our fetch and XMLHttpRequest in every same-origin frame the page reaches through its element. */
export function hookFrames(fetchImpl: Fetch, xhr: typeof XMLHttpRequest): void {
  const hooked = new WeakSet<Window>();
  const adopt = (frame: Window | null): void => {
    if (!frame || hooked.has(frame)) return;
    try {
      // Reading its document throws for a cross-origin frame, which is not ours to route. (Its
      // location's origin would not do: an about:blank frame's is "null" though it has the page's.)
      void frame.document;
      const target = frame as Window & { XMLHttpRequest: typeof XMLHttpRequest };
      target.fetch = fetchImpl;
      target.XMLHttpRequest = xhr;
      hooked.add(frame);
    } catch {
      // cross-origin: left alone
    }
  };
  // Through the element: its window, or its document's.
  const windowOf = {
    contentWindow: (value: unknown) => value as Window | null,
    contentDocument: (value: unknown) => (value as Document | null)?.defaultView ?? null,
  };
  for (const element of [HTMLIFrameElement, HTMLFrameElement, HTMLObjectElement]) {
    for (const [property, toWindow] of Object.entries(windowOf)) {
      const descriptor = Object.getOwnPropertyDescriptor(element.prototype, property);
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this) below
      const get = descriptor?.get;
      if (!descriptor || !get) continue;
      Object.defineProperty(element.prototype, property, {
        ...descriptor,
        get(this: HTMLElement) {
          const value: unknown = get.call(this);
          adopt(toWindow(value));
          return value;
        },
      });
    }
  }
  // window.frames[i] and window[i] reach frames without their element. A new about:blank frame gets
  // our scripts of its own as it is made (allFrames, matchOriginAsFallback), so even reached by index
  // at once it is routed; the observer also hands it the page's fetch once it is in the document.
  const observer = new MutationObserver(() => {
    for (let index = 0; index < window.frames.length; index += 1) adopt(window.frames[index] as Window);
  });
  observer.observe(document, { childList: true, subtree: true });
}

/** Beacons: routed POSTs, fire and forget; false (as the browser's) for a body over its 64 KiB queue. */
export function hookBeacon(fetchImpl: Fetch, isRouted: () => boolean): void {
  const BEACON_LIMIT = 64 * 1024;
  const native = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url: string | URL, data?: BodyInit | null): boolean => {
    if (!isRouted()) return native(url, data);
    const size =
      typeof data === 'string'
        ? new Blob([data]).size
        : data instanceof Blob
          ? data.size
          : data instanceof ArrayBuffer || ArrayBuffer.isView(data)
            ? data.byteLength
            : 0;
    if (size > BEACON_LIMIT) return false;
    fetchImpl(new URL(String(url), location.href), {
      method: 'POST',
      body: data ?? null,
      keepalive: true,
      credentials: 'include',
      mode: 'no-cors',
    }).catch((error: unknown) => console.warn(WARNING, 'beacon not delivered', error));
    return true;
  };
}

/** EventSource over the routed fetch: events, ids, `retry:`, named events, reconnection, close(). */
export function hookEventSource(fetchImpl: Fetch, isRouted: () => boolean): void {
  const NativeEventSource = window.EventSource;
  class PeerlaneEventSource extends EventTarget {
    readonly url: string;
    readonly withCredentials: boolean;
    readyState = 0;
    onopen: ((event: Event) => void) | null = null;
    onmessage: ((event: MessageEvent) => void) | null = null;
    onerror: ((event: Event) => void) | null = null;
    private lastEventId = '';
    private retryMs = 3000;
    private controller = new AbortController();

    constructor(url: string | URL, init?: EventSourceInit) {
      super();
      this.url = new URL(String(url), location.href).href;
      this.withCredentials = init?.withCredentials === true;
      void this.connect();
    }

    close(): void {
      this.readyState = 2;
      this.controller.abort();
    }

    private async connect(): Promise<void> {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
      try {
        const response = await fetchImpl(this.url, {
          headers,
          cache: 'no-store',
          credentials: this.withCredentials ? 'include' : 'same-origin',
          signal: this.controller.signal,
        });
        const type = response.headers.get('content-type') ?? '';
        if (response.status !== 200 || !/^text\/event-stream/i.test(type) || !response.body) {
          // Not a stream: failed for good, as the browser's EventSource.
          this.readyState = 2;
          emit(this, new Event('error'));
          return;
        }
        this.readyState = 1;
        emit(this, new Event('open'));
        await this.read(response.body);
      } catch {
        if (this.readyState === 2) return;
      }
      if (this.readyState === 2) return;
      // The stream ended or broke: reconnect after `retry`, as the browser does.
      this.readyState = 0;
      emit(this, new Event('error'));
      setTimeout(() => {
        if (this.readyState !== 2) void this.connect();
      }, this.retryMs);
    }

    private async read(body: ReadableStream<Uint8Array>): Promise<void> {
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let data: string[] = [];
      let eventType = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (line === '') {
            if (data.length > 0) {
              emit(
                this,
                new MessageEvent(eventType || 'message', {
                  data: data.join('\n'),
                  lastEventId: this.lastEventId,
                  origin: new URL(this.url).origin,
                }),
              );
            }
            data = [];
            eventType = '';
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const fieldValue = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(fieldValue);
          else if (field === 'event') eventType = fieldValue;
          else if (field === 'id' && !fieldValue.includes('\0')) this.lastEventId = fieldValue;
          else if (field === 'retry' && /^\d+$/.test(fieldValue)) this.retryMs = Number(fieldValue);
        }
      }
    }
  }
  defineStates(PeerlaneEventSource, ['CONNECTING', 'OPEN', 'CLOSED']);
  window.EventSource = new Proxy(NativeEventSource, {
    construct: (target, args: [string | URL, EventSourceInit?]) =>
      isRouted() ? new PeerlaneEventSource(...args) : new target(...args),
  });
}

/** WebSocket: a connection that fails as an unreachable server's does, said in the console. */
export function refuseWebSockets(isRouted: () => boolean): void {
  const NativeWebSocket = window.WebSocket;
  class RefusedWebSocket extends EventTarget {
    readonly url: string;
    readyState = 0;
    readonly protocol = '';
    readonly extensions = '';
    readonly bufferedAmount = 0;
    binaryType: BinaryType = 'blob';
    onopen: ((event: Event) => void) | null = null;
    onmessage: ((event: MessageEvent) => void) | null = null;
    onerror: ((event: Event) => void) | null = null;
    onclose: ((event: CloseEvent) => void) | null = null;

    constructor(url: string | URL) {
      super();
      this.url = new URL(String(url), location.href).href;
      console.warn(
        WARNING,
        `WebSocket to ${this.url} refused: Peerlane routes this site through peers and does not carry WebSockets`,
      );
      setTimeout(() => {
        this.readyState = 3;
        emit(this, new Event('error'));
        emit(this, new CloseEvent('close', { code: 1006, reason: '', wasClean: false }));
      }, 0);
    }

    send(): void {
      if (this.readyState === 0)
        throw new DOMException(
          "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.",
          'InvalidStateError',
        );
    }

    close(): void {
      this.readyState = 3;
    }
  }
  defineStates(RefusedWebSocket, ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']);
  window.WebSocket = new Proxy(NativeWebSocket, {
    construct: (target, args: [string | URL, (string | string[])?]) =>
      isRouted() ? new RefusedWebSocket(args[0]) : new target(...args),
  });
}

/** Workers would fetch directly: refused with a SecurityError on a routed page. */
export function refuseWorkers(isRouted: () => boolean): void {
  for (const name of ['Worker', 'SharedWorker'] as const) {
    const Native = window[name] as (typeof window)[typeof name] | undefined;
    if (!Native) continue;
    window[name] = new Proxy(Native, {
      construct: (target, args: unknown[]) => {
        if (isRouted())
          throw new DOMException(
            `Peerlane routes this site through peers and cannot route a ${name}'s requests, so it does not start one`,
            'SecurityError',
          );
        return new (target as new (...rest: unknown[]) => object)(...args);
      },
    }) as never;
  }
}
