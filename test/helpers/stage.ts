import { startSignalingServer, type SignalingOptions, type SignalingServer } from '../../signaling-server/server';
import { closeAll } from './close-all';
import { DEFAULT_SETTINGS, type Settings } from '../../extension/core/settings';
import { DEV_PRIVATE_ALLOW_LIST, startOriginServer, type OriginOptions, type OriginServer } from './origin-server';

/** A Chromium requester's names: the data origin only through an exit, the app's pages on loopback. */
export const REQUESTER_HOST_RULES = ['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1'];

/**
 * Where an e2e story plays: a loopback origin (the app's pages at `appOrigin`, the data routed
 * pages fetch at `dataOrigin`, a name only exits resolve) and a signaling server.
 */
export interface Stage {
  origin: OriginServer;
  signaling: SignalingServer;
  appOrigin: string;
  dataOrigin: string;
  /** An exit's settings to serve this stage: its signaling, sharing on, the origin's address (`privateAllowList`) and port allowed. */
  exitSettings(privateAllowList?: string[]): Partial<Settings>;
  close(): Promise<void>;
}

export async function startStage(
  originOptions: OriginOptions = {},
  signalingOptions: Partial<SignalingOptions> = {},
): Promise<Stage> {
  const origin = await startOriginServer(originOptions);
  const signaling = await startSignalingServer({ port: 0, ...signalingOptions }).catch(async (error: unknown) => {
    await origin.close();
    throw error;
  });
  return {
    origin,
    signaling,
    appOrigin: `http://app.peerlane.test:${origin.port}`,
    dataOrigin: `http://origin.peerlane.test:${origin.port}`,
    exitSettings: (privateAllowList = DEV_PRIVATE_ALLOW_LIST) => ({
      signalingUrl: signaling.url,
      share: true,
      privateAllowList,
      exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
    }),
    close: () => closeAll(signaling, origin),
  };
}
