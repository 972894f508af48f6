import { createHmac } from 'node:crypto';

/**
 * Time-limited TURN credentials in coturn's REST-API scheme (`use-auth-secret` +
 * `static-auth-secret`): username `<expiry unix seconds>:<peer id>`, password
 * base64(HMAC-SHA1(secret, username)). coturn checks them with the same secret; no shared state.
 */
export interface TurnConfig {
  secret: string;
  urls: string[];
  ttlSeconds: number;
}

export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export function turnCredentials(config: TurnConfig, peerId: string, nowSeconds: number): IceServer {
  const username = `${Math.floor(nowSeconds) + config.ttlSeconds}:${peerId}`;
  const credential = createHmac('sha1', config.secret).update(username).digest('base64');
  return { urls: config.urls, username, credential };
}
