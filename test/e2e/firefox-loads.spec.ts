import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { launchFirefoxWithExtension } from '../helpers/firefox';

/**
 * The Firefox build loads and its background page runs: with default settings it reaches the
 * signaling server at the default address. (WebDriver BiDi refuses to navigate to moz-extension://
 * pages, so this test cannot open the popup; the full Firefox journey is the Firefox-parity issue.)
 */
let signaling: SignalingServer;
let firefox: { browser: Browser; baseUrl: string };

beforeAll(async () => {
  const { port } = new URL(DEFAULT_SETTINGS.signalingUrl);
  try {
    signaling = await startSignalingServer({ host: '127.0.0.1', port: Number(port) });
  } catch (error) {
    throw new Error(`port ${port} is busy (is \`npm start\` running?): the Firefox load test needs the default signaling address. ${String(error)}`);
  }
  firefox = await launchFirefoxWithExtension();
}, 60_000);

afterAll(async () => {
  await firefox?.browser.close();
  await signaling?.close();
});

describe('Firefox build', () => {
  it('loads, and its background page registers with the signaling server', async () => {
    // Bounded wait: the background connects on start; no event reaches the test from inside Firefox.
    const deadline = Date.now() + 20_000;
    let health = { peers: 0, exits: 0 };
    while (Date.now() < deadline && health.peers < 1) {
      health = (await (await fetch(`http://127.0.0.1:${signaling.port}/healthz`)).json()) as typeof health;
      if (health.peers < 1) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(health).toMatchObject({ peers: 1, exits: 0 }); // sharing is off after install
  });
});
