import { createHmac } from 'node:crypto';
import type { IceServerConfig } from '../protocol/signaling-messages';

/**
 * The ICE servers every peer gets at registration: the operator's STUN servers as they are, and
 * TURN with time-limited credentials in coturn's REST-API scheme (`use-auth-secret` +
 * `static-auth-secret`): username `<expiry unix seconds>:<peer id>`, password
 * base64(HMAC-SHA1(secret, username)). coturn checks them with the same secret; no shared state.
 * With none configured the extension falls back to its own default STUN server (docs/signaling.md).
 */
export interface TurnConfig {
  secret: string;
  urls: string[];
  ttlSeconds: number;
}

export interface IceConfig {
  stunUrls: string[];
  turn: TurnConfig | null;
}

export function turnCredentials(config: TurnConfig, peerId: string, nowSeconds: number): IceServerConfig {
  const username = `${Math.floor(nowSeconds) + config.ttlSeconds}:${peerId}`;
  const credential = createHmac('sha1', config.secret).update(username).digest('base64');
  return { urls: config.urls, username, credential };
}

export function iceServersFor(config: IceConfig, peerId: string, nowSeconds: number): IceServerConfig[] {
  const servers: IceServerConfig[] = [];
  if (config.stunUrls.length > 0) servers.push({ urls: config.stunUrls });
  if (config.turn) servers.push(turnCredentials(config.turn, peerId, nowSeconds));
  return servers;
}
