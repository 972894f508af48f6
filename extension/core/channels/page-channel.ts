import { PRIORITIES } from '../queue/priority-lanes';
import { CACHE_MODES, REDIRECT_MODES } from '../protocol/request-fields';
import type { RoutedRequest } from '../protocol/routed-request';
import type { ErrorShape, HeaderList } from './common';
import {
  MAX_HEADERS,
  MAX_HEADER_NAME_CHARS,
  MAX_HEADER_VALUE_CHARS,
  MAX_INTEGRITY_CHARS,
  MAX_METHOD_CHARS,
  MAX_ORIGIN_CHARS,
  MAX_URL_CHARS,
} from '../protocol/limits';

/**
 * The page hook (MAIN world) ⇄ content bridge (ISOLATED world), over a private MessageChannel handed
 * over once by window.postMessage. Types and both readers, written by hand: hook and bridge run in
 * every routed page at document_start, and neither carries a validation library. Measured in
 * Chromium 156: building the bridge's zod schemas when it started cost each routed page load
 * ~30 ms to DOMContentLoaded (the bridge's whole start, 13–35 ms in the page's isolated world);
 * these readers cost nothing measurable. The background validates everything again with its schemas
 * where the request enters it (`request-channel.ts`).
 */
export type PageToBridge =
  /** A routed request (core/protocol/routed-request.ts), its body's buffer moved to the bridge; the hook always says redirect, integrity and origin. */
  | ({ type: 'request'; id: number } & Required<RoutedRequest<ArrayBuffer>>)
  /** The page's stream consumed this many bytes: the background may send more. */
  | { type: 'consumed'; id: number; bytes: number }
  | { type: 'cancel'; id: number };

export type BridgeToPage =
  /** Whether this exact origin is routed (match patterns cannot tell ports apart in Firefox). */
  | { type: 'config'; routed: boolean }
  | {
      type: 'head';
      id: number;
      status: number;
      statusText: string;
      headers: HeaderList;
      url?: string;
      redirected?: boolean;
      opaqueRedirect?: boolean;
      redirectHops?: { url: string; headers: HeaderList }[];
    }
  | { type: 'chunk'; id: number; data: ArrayBuffer }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: ErrorShape }
  /** Request body bytes the exit has taken so far. */
  | { type: 'uploaded'; id: number; bytes: number };

/** window.postMessage markers of the one-time MessageChannel handshake between page hook and bridge. */
export const PAGE_HANDSHAKE = 'peerlane-page-hook-hello';
export const BRIDGE_READY = 'peerlane-bridge-ready';

/** True for a window message carrying one of the handshake markers above. */
export function isHandshake(data: unknown, marker: typeof PAGE_HANDSHAKE | typeof BRIDGE_READY): boolean {
  return typeof data === 'object' && data !== null && (data as { peerlane?: unknown }).peerlane === marker;
}

const isHeaderList = (value: unknown): value is HeaderList =>
  Array.isArray(value) &&
  value.every(
    (pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string',
  );

const isBoundedHeaderList = (value: unknown): value is HeaderList =>
  isHeaderList(value) &&
  value.length <= MAX_HEADERS &&
  value.every(
    ([name, headerValue]) => name.length <= MAX_HEADER_NAME_CHARS && headerValue.length <= MAX_HEADER_VALUE_CHARS,
  );

const isInteger = (value: unknown): value is number => Number.isInteger(value);
const isShortString = (value: unknown, max: number): value is string =>
  typeof value === 'string' && value.length <= max;
const isOneOf = <T extends string>(values: readonly T[], value: unknown): value is T =>
  (values as readonly unknown[]).includes(value);
const isArrayBuffer = (value: unknown): value is ArrayBuffer =>
  Object.prototype.toString.call(value) === '[object ArrayBuffer]';

/**
 * The bridge's check of a page message (untrusted: any page script can post on the channel): the
 * message with only its known fields, or null (dropped).
 */
export function readPageMessage(raw: unknown): PageToBridge | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const message = raw as Record<string, unknown>;
  const { id } = message;
  if (!isInteger(id)) return null;
  switch (message.type) {
    case 'request': {
      const { method, url, headers, priority, body, redirect, integrity, origin, cache } = message;
      const valid =
        isShortString(method, MAX_METHOD_CHARS) &&
        isShortString(url, MAX_URL_CHARS) &&
        isBoundedHeaderList(headers) &&
        isOneOf(PRIORITIES, priority) &&
        (body === null || isArrayBuffer(body)) &&
        isOneOf(REDIRECT_MODES, redirect) &&
        isShortString(integrity, MAX_INTEGRITY_CHARS) &&
        (origin === null || isShortString(origin, MAX_ORIGIN_CHARS)) &&
        isOneOf(CACHE_MODES, cache);
      return valid
        ? { type: 'request', id, method, url, headers, priority, body, redirect, integrity, origin, cache }
        : null;
    }
    case 'consumed':
      return isInteger(message.bytes) && message.bytes >= 0 ? { type: 'consumed', id, bytes: message.bytes } : null;
    case 'cancel':
      return { type: 'cancel', id };
    default:
      return null;
  }
}

/** The hook's check of a bridge message: the shape it relies on, or null (dropped). */
export function readBridgeMessage(raw: unknown): BridgeToPage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const message = raw as Record<string, unknown>;
  if (message.type === 'config') return typeof message.routed === 'boolean' ? (message as BridgeToPage) : null;
  if (typeof message.id !== 'number') return null;
  switch (message.type) {
    case 'head':
      return typeof message.status === 'number' &&
        typeof message.statusText === 'string' &&
        isHeaderList(message.headers) &&
        (message.url === undefined || typeof message.url === 'string') &&
        (message.redirected === undefined || typeof message.redirected === 'boolean') &&
        (message.opaqueRedirect === undefined || typeof message.opaqueRedirect === 'boolean') &&
        (message.redirectHops === undefined ||
          (Array.isArray(message.redirectHops) &&
            message.redirectHops.every(
              (hop: unknown) =>
                typeof hop === 'object' &&
                hop !== null &&
                typeof (hop as { url?: unknown }).url === 'string' &&
                isHeaderList((hop as { headers?: unknown }).headers),
            )))
        ? (message as BridgeToPage)
        : null;
    case 'chunk':
      return message.data instanceof ArrayBuffer ? (message as BridgeToPage) : null;
    case 'end':
      return message as BridgeToPage;
    case 'uploaded':
      return isInteger(message.bytes) && message.bytes >= 0 ? (message as BridgeToPage) : null;
    case 'error': {
      const error = message.error as Record<string, unknown> | null;
      return typeof error === 'object' &&
        error !== null &&
        typeof error.category === 'string' &&
        typeof error.message === 'string'
        ? (message as BridgeToPage)
        : null;
    }
    default:
      return null;
  }
}
