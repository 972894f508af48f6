import { joinBytes } from '../core/bytes';
import { decoderFor } from '../core/http/text-decoding';
import { defineStates, emit } from './page-surfaces';

/**
 * XMLHttpRequest over the routed fetch, to the letter of the XHR standard where a page can tell
 * (https://xhr.spec.whatwg.org/): readyState and its events (LOADING fires per chunk, responseText
 * grows meanwhile), ProgressEvents with lengthComputable/loaded/total on the request and its
 * `upload`, text decoded by the response's charset or `overrideMimeType`, `responseType`
 * 'document' and `responseXML`, `abort()` firing its events synchronously and ending UNSENT, `open()`
 * resetting everything, `timeout`, and the standard's exceptions for calls out of order.
 * Synchronous XHR cannot be routed: refused with an error, never sent directly.
 */
type State = 0 | 1 | 2 | 3 | 4;

/** Upload progress of a routed request: body bytes the exit has taken, of the whole body. */
export type UploadProgress = (loaded: number, total: number) => void;
/** The page's routed fetch, with the upload progress only the hook's own callers (this XHR) ask for. */
export type RoutedFetch = (
  input: RequestInfo | URL,
  init?: RequestInit,
  onUpload?: UploadProgress,
) => Promise<Response>;

function invalidState(what: string): DOMException {
  return new DOMException(
    `Failed to execute '${what}' on 'XMLHttpRequest': the object's state must be OPENED.`,
    'InvalidStateError',
  );
}

export function createXMLHttpRequest(fetchImpl: RoutedFetch): typeof XMLHttpRequest {
  class PeerlaneXMLHttpRequest extends EventTarget {
    readyState: State = 0;
    status = 0;
    statusText = '';
    responseURL = '';
    responseType: XMLHttpRequestResponseType = '';
    timeout = 0;
    withCredentials = false;
    readonly upload = new EventTarget();
    onreadystatechange: ((event: Event) => void) | null = null;
    onloadstart: ((event: ProgressEvent) => void) | null = null;
    onprogress: ((event: ProgressEvent) => void) | null = null;
    onload: ((event: ProgressEvent) => void) | null = null;
    onerror: ((event: ProgressEvent) => void) | null = null;
    onabort: ((event: ProgressEvent) => void) | null = null;
    ontimeout: ((event: ProgressEvent) => void) | null = null;
    onloadend: ((event: ProgressEvent) => void) | null = null;
    /** A request body is on its way and its upload events have not ended. */
    private uploading = false;
    private method = 'GET';
    private url = '';
    private requestHeaders = new Headers();
    private responseHeaders = new Headers();
    private chunks: Uint8Array[] = [];
    private received = 0;
    private text = '';
    private decoder: TextDecoder | null = null;
    private overriddenMime: string | null = null;
    private sent = false;
    /** Each send's own: an abort() or open() makes the running one's later events moot. */
    private run: AbortController | null = null;

    open(method: string, url: string | URL, async = true): void {
      if (!async) throw new DOMException('Peerlane cannot route synchronous XMLHttpRequest', 'InvalidAccessError');
      this.run?.abort();
      this.run = null;
      this.method = /^(delete|get|head|options|post|put)$/i.test(method) ? method.toUpperCase() : method;
      this.url = new URL(String(url), location.href).href;
      this.sent = false;
      this.requestHeaders = new Headers();
      this.resetResponse();
      if (this.readyState !== 1) {
        this.readyState = 1;
        this.fire('readystatechange');
      }
    }

    setRequestHeader(name: string, value: string): void {
      if (this.readyState !== 1 || this.sent) throw invalidState('setRequestHeader');
      this.requestHeaders.append(name, value);
    }

    getResponseHeader(name: string): string | null {
      return this.readyState >= 2 ? this.responseHeaders.get(name) : null;
    }

    getAllResponseHeaders(): string {
      if (this.readyState < 2) return '';
      return [...this.responseHeaders].map(([name, value]) => `${name}: ${value}\r\n`).join('');
    }

    overrideMimeType(mime: string): void {
      if (this.readyState >= 3)
        throw new DOMException(
          "Failed to execute 'overrideMimeType' on 'XMLHttpRequest': MimeType cannot be overridden when the state is LOADING or DONE.",
          'InvalidStateError',
        );
      this.overriddenMime = mime;
    }

    get responseText(): string {
      if (this.responseType !== '' && this.responseType !== 'text')
        throw new DOMException(
          `The value is only accessible if the object's 'responseType' is '' or 'text' (was '${this.responseType}').`,
          'InvalidStateError',
        );
      return this.readyState >= 3 ? this.text : '';
    }

    get responseXML(): Document | null {
      if (this.responseType !== '' && this.responseType !== 'document')
        throw new DOMException(
          `The value is only accessible if the object's 'responseType' is '' or 'document' (was '${this.responseType}').`,
          'InvalidStateError',
        );
      return this.readyState === 4 ? this.document() : null;
    }

    get response(): unknown {
      if (this.responseType === '' || this.responseType === 'text') return this.responseText;
      if (this.readyState !== 4 || this.status === 0) return null;
      const bytes = this.bytes();
      switch (this.responseType) {
        case 'arraybuffer':
          return bytes.buffer;
        case 'blob':
          return new Blob([bytes], { type: this.mime() ?? '' });
        case 'document':
          return this.document();
        case 'json':
          try {
            return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
          } catch {
            return null;
          }
      }
    }

    send(body?: Document | XMLHttpRequestBodyInit | null): void {
      if (this.readyState !== 1 || this.sent) throw invalidState('send');
      const carried = this.method === 'GET' || this.method === 'HEAD' ? null : (body ?? null);
      const run = new AbortController();
      this.run = run;
      this.sent = true;
      const uploading = carried !== null;
      this.uploading = uploading;
      const timer =
        this.timeout > 0
          ? setTimeout(() => run.abort(new DOMException('timeout', 'TimeoutError')), this.timeout)
          : null;
      this.fire('loadstart');
      if (uploading) this.fire('loadstart', this.upload);
      void (async () => {
        try {
          const init: RequestInit = {
            method: this.method,
            headers: this.requestHeaders,
            body: carried as BodyInit | null,
            signal: run.signal,
            credentials: this.withCredentials ? 'include' : 'same-origin',
          };
          let uploadTotal = 0;
          // As the exit takes the body (its credit): progress, then load and loadend once it has all of it.
          const onUpload: UploadProgress = (loaded, total) => {
            if (this.run !== run || !this.uploading) return;
            uploadTotal = total;
            this.fire('progress', this.upload, loaded, total);
            if (loaded >= total) this.uploadEnded(total);
          };
          const response = await fetchImpl(this.url, init, onUpload);
          if (this.run !== run) return;
          // The answer came, so the exit had the whole body, whatever progress was said before.
          if (this.uploading) {
            this.fire('progress', this.upload, uploadTotal, uploadTotal);
            this.uploadEnded(uploadTotal);
          }
          this.status = response.status;
          this.statusText = response.statusText;
          this.responseURL = response.url;
          this.responseHeaders = response.headers;
          this.decoder = decoderFor(this.mime());
          this.setState(2);
          const length = Number(response.headers.get('content-length') ?? NaN);
          const total = response.headers.has('content-encoding') || !Number.isFinite(length) ? 0 : length;
          const reader = response.body?.getReader();
          for (;;) {
            const next = reader ? await reader.read() : { done: true as const, value: undefined };
            if (this.run !== run) return;
            if (next.done) break;
            this.chunks.push(next.value);
            this.received += next.value.byteLength;
            this.text += this.decoder.decode(next.value, { stream: true });
            this.setState(3);
            this.fire('progress', this, this.received, total);
          }
          this.text += this.decoder.decode();
          if (this.readyState < 3) this.setState(3);
          this.setState(4);
          this.run = null;
          this.fire('load', this, this.received, total);
          this.fire('loadend', this, this.received, total);
        } catch (error) {
          if (this.run !== run) return;
          this.run = null;
          const reason = run.signal.reason as unknown;
          this.failed(reason instanceof DOMException && reason.name === 'TimeoutError' ? 'timeout' : 'error');
          // A routing failure was logged where it was made; anything else is logged here.
          if (!(error instanceof TypeError || error instanceof DOMException)) console.warn('[peerlane]', error);
        } finally {
          if (timer) clearTimeout(timer);
        }
      })();
    }

    abort(): void {
      const running = this.run;
      this.run = null;
      running?.abort();
      if (running && this.readyState !== 4) this.failed('abort');
      // Aborted, as the standard ends it: UNSENT, without an event.
      if (this.readyState === 4) {
        this.readyState = 0;
        this.resetResponse();
      }
    }

    private uploadEnded(total: number): void {
      this.uploading = false;
      this.fire('load', this.upload, total, total);
      this.fire('loadend', this.upload, total, total);
    }

    /** The standard's "request error steps": DONE, readystatechange, then `type` and loadend (on upload too while it ran). */
    private failed(type: 'abort' | 'error' | 'timeout'): void {
      const upload = this.uploading;
      this.uploading = false;
      this.resetResponse();
      this.readyState = 4;
      this.sent = false;
      this.fire('readystatechange');
      if (upload) {
        this.fire(type, this.upload);
        this.fire('loadend', this.upload);
      }
      this.fire(type);
      this.fire('loadend');
    }

    private resetResponse(): void {
      this.status = 0;
      this.statusText = '';
      this.responseURL = '';
      this.responseHeaders = new Headers();
      this.chunks = [];
      this.received = 0;
      this.text = '';
    }

    private mime(): string | null {
      return this.overriddenMime ?? this.responseHeaders.get('content-type');
    }

    private bytes(): Uint8Array<ArrayBuffer> {
      return joinBytes(this.chunks, this.received);
    }

    /** The body as a document: HTML when the type says so (and only with responseType 'document'), XML for an XML type. */
    private document(): Document | null {
      const essence = (this.mime() ?? 'text/xml').split(';')[0]!.trim().toLowerCase();
      const html = essence === 'text/html';
      if (html ? this.responseType !== 'document' : !/[+/]xml$/.test(essence)) return null;
      const parsed = new DOMParser().parseFromString(
        decoderFor(this.mime()).decode(this.bytes()),
        html ? 'text/html' : 'application/xml',
      );
      return !html && parsed.getElementsByTagName('parsererror').length > 0 ? null : parsed;
    }

    private setState(state: State): void {
      this.readyState = state;
      this.fire('readystatechange');
    }

    private fire(type: string, target: EventTarget = this, loaded = 0, total = 0): void {
      const progress = type !== 'readystatechange';
      emit(
        target,
        progress ? new ProgressEvent(type, { lengthComputable: total > 0, loaded, total }) : new Event(type),
      );
    }
  }
  defineStates(PeerlaneXMLHttpRequest, ['UNSENT', 'OPENED', 'HEADERS_RECEIVED', 'LOADING', 'DONE']);
  return PeerlaneXMLHttpRequest as unknown as typeof XMLHttpRequest;
}
