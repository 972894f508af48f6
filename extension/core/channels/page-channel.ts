import type { Priority } from '../queue/priority-lanes';
import type { RedirectMode } from '../protocol/request-fields';
import type { ErrorShape, HeaderList } from './common';

/**
 * The page hook (MAIN world) ⇄ content bridge (ISOLATED world), over a private MessageChannel handed
 * over once by window.postMessage. Types and the hook's reader only: the hook runs in every routed
 * page at document_start and carries no validation library. The bridge validates what the page
 * sends with `page-channel-schema.ts`; the hook checks the shape of what the bridge sends below.
 */
export type PageToBridge =
  | { type: 'request'; id: number; method: string; url: string; headers: HeaderList; priority: Priority; body: ArrayBuffer | null; redirect: RedirectMode; integrity: string; origin: string | null }
  /** The page's stream consumed this many bytes: the background may send more. */
  | { type: 'consumed'; id: number; bytes: number }
  | { type: 'cancel'; id: number };

export type BridgeToPage =
  /** Whether this exact origin is routed (match patterns cannot tell ports apart in Firefox). */
  | { type: 'config'; routed: boolean }
  | { type: 'head'; id: number; status: number; statusText: string; headers: HeaderList; url?: string; redirected?: boolean; opaqueRedirect?: boolean }
  | { type: 'chunk'; id: number; data: ArrayBuffer }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: ErrorShape };

/** window.postMessage markers of the one-time MessageChannel handshake between page hook and bridge. */
export const PAGE_HANDSHAKE = 'peerlane-page-hook-hello';
export const BRIDGE_READY = 'peerlane-bridge-ready';

/** True for a window message carrying one of the handshake markers above. */
export function isHandshake(data: unknown, marker: typeof PAGE_HANDSHAKE | typeof BRIDGE_READY): boolean {
  return typeof data === 'object' && data !== null && (data as { peerlane?: unknown }).peerlane === marker;
}

const isHeaderList = (value: unknown): value is HeaderList =>
  Array.isArray(value) && value.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string');

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
        (message.opaqueRedirect === undefined || typeof message.opaqueRedirect === 'boolean')
        ? (message as BridgeToPage)
        : null;
    case 'chunk':
      return message.data instanceof ArrayBuffer ? (message as BridgeToPage) : null;
    case 'end':
      return message as BridgeToPage;
    case 'error': {
      const error = message.error as Record<string, unknown> | null;
      return typeof error === 'object' && error !== null && typeof error.category === 'string' && typeof error.message === 'string' ? (message as BridgeToPage) : null;
    }
    default:
      return null;
  }
}
