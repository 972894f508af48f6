import { FIREFOX_VIEWER_PAGE } from '../viewer/viewer-url';
import type { SafeParser } from './parse';
import { fromPopupSchema, POPUP_PORT_NAME, toPopupSchema, type ToPopup } from './popup-channel';
import {
  REQUEST_PORT_NAME,
  toBackgroundRequestSchema,
  toRequesterSchema,
  VIEWER_PORT_NAME,
  type ToBackgroundRequest,
  type ToRequester,
} from './request-channel';
import { fromTransportSchema, toTransportSchema, type FromTransport, type ToTransport } from './transport-channel';

/**
 * Every cross-context channel the background serves, declared once: its name, the schemas of what
 * comes in and goes out, and who may connect. The background's one `onConnect` judges the sender
 * against `admits` before anything is sent, parses every inbound message with `inbound` once, and
 * disconnects (and counts) a port that fails either. The page hook ⇄ bridge channel never reaches
 * the background and is declared in `page-channel.ts`.
 */
export const POPUP_PAGE = 'extension/ui/popup.html';
export const OPTIONS_PAGE = 'extension/ui/options.html';
export const OFFSCREEN_PAGE = 'extension/hosts/chrome-offscreen.html';

export type SenderRule =
  /** One of our own extension pages, by path (query and fragment ignored). */
  | { kind: 'extension-page'; paths: readonly string[] }
  /** Our content script in a tab, on a page whose exact origin is routed now. */
  | { kind: 'routed-content-script' };

export interface ChannelSpec<In, Out> {
  name: string;
  inbound: SafeParser<In>;
  outbound: SafeParser<Out>;
  admits: SenderRule;
  /** What a port is told before it is disconnected for an invalid message, if the channel has a way to say it. */
  invalid?: (reason: string) => Out;
}

const requestInvalid = (reason: string): ToRequester => ({
  type: 'error',
  error: { category: 'bad_message', message: reason },
});

export const CHANNELS = {
  popup: {
    name: POPUP_PORT_NAME,
    inbound: fromPopupSchema,
    outbound: toPopupSchema,
    admits: { kind: 'extension-page', paths: [POPUP_PAGE, OPTIONS_PAGE] },
  },
  request: {
    name: REQUEST_PORT_NAME,
    inbound: toBackgroundRequestSchema,
    outbound: toRequesterSchema,
    admits: { kind: 'routed-content-script' },
    invalid: requestInvalid,
  },
  // Firefox's peer viewer page asks for one request per Port, like the bridge (no extension service worker there).
  viewer: {
    name: VIEWER_PORT_NAME,
    inbound: toBackgroundRequestSchema,
    outbound: toRequesterSchema,
    admits: { kind: 'extension-page', paths: [FIREFOX_VIEWER_PAGE] },
    invalid: requestInvalid,
  },
  // Chrome only, and not a runtime Port: the service worker judges `postMessage` sources by this rule.
  transport: {
    name: 'peerlane-transport',
    inbound: fromTransportSchema,
    outbound: toTransportSchema,
    admits: { kind: 'extension-page', paths: [OFFSCREEN_PAGE] },
  },
} as const satisfies Record<string, ChannelSpec<unknown, unknown>>;

export type PortChannelName = 'popup' | 'request' | 'viewer';
export type ChannelIn<K extends keyof typeof CHANNELS> = K extends 'popup'
  ? never
  : K extends 'transport'
    ? FromTransport
    : ToBackgroundRequest;
export type ChannelOut<K extends keyof typeof CHANNELS> = K extends 'popup'
  ? ToPopup
  : K extends 'transport'
    ? ToTransport
    : ToRequester;

/** What the browser says about a connecting context (runtime.Port's `sender`). */
export interface SenderFacts {
  url?: string;
  /** The sending document's origin (MessageSender.origin): an about:blank or srcdoc frame's URL says nothing of it. */
  origin?: string;
  tabId?: number;
  frameId?: number;
  /** The top-level page of the sender's tab (where the browser tells it) and its container (Firefox's cookieStoreId). */
  topLevelUrl?: string;
  container?: string;
}

/** A sender the table admitted, with what it was judged on. */
export interface AdmittedSender {
  url: URL;
  tabId: number | null;
  frameId: number | null;
  /** The top-level page's URL (null: not told; the sender's own URL stands for it) and container. */
  topLevelUrl: string | null;
  container: string | null;
}

export interface JudgeContext {
  /** `chrome-extension://<id>` or `moz-extension://<uuid>`. */
  extensionOrigin: string;
  isRouted(origin: string): boolean;
}

/** Pure: admits `sender` on a channel with `rule`, or says no (null). */
export function judgeSender(rule: SenderRule, sender: SenderFacts, context: JudgeContext): AdmittedSender | null {
  let url: URL;
  try {
    url = new URL(sender.url ?? '');
  } catch {
    return null;
  }
  // Not `url.origin`: for non-special schemes it is "null" in some engines (Node among them).
  const ours = `${url.protocol}//${url.host}` === context.extensionOrigin;
  const admitted: AdmittedSender = {
    url,
    tabId: sender.tabId ?? null,
    frameId: sender.frameId ?? null,
    topLevelUrl: sender.topLevelUrl ?? null,
    container: sender.container ?? null,
  };
  switch (rule.kind) {
    case 'extension-page':
      return ours && rule.paths.some((path) => url.pathname === `/${path}`) ? admitted : null;
    case 'routed-content-script': {
      // A frame the page made (about:blank, about:srcdoc) has the page's origin, which only `origin` tells.
      const inherits = url.protocol === 'about:' && (url.pathname === 'blank' || url.pathname === 'srcdoc');
      const origin = inherits ? (sender.origin ?? 'null') : url.origin;
      return !ours &&
        admitted.tabId !== null &&
        (/^https?:$/.test(url.protocol) || inherits) &&
        /^https?:\/\//.test(origin) &&
        context.isRouted(origin)
        ? admitted
        : null;
    }
  }
}

export function channelByName(name: string): PortChannelName | null {
  for (const key of ['popup', 'request', 'viewer'] as const) if (CHANNELS[key].name === name) return key;
  return null;
}
