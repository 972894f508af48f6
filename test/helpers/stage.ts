import { startSignalingServer, type SignalingOptions, type SignalingServer } from '../../signaling-server/server';
import { closeAll } from './close-all';
import { startOriginServer, type OriginOptions, type OriginServer } from './origin-server';

/**
 * Where an e2e story plays: a loopback origin (the app's pages at `appOrigin`, the data routed
 * pages fetch at `dataOrigin`, a name only exits resolve) and a signaling server.
 */
export interface Stage {
  origin: OriginServer;
  signaling: SignalingServer;
  appOrigin: string;
  dataOrigin: string;
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
    close: () => closeAll(signaling, origin),
  };
}
