import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitForRoutedScripts, type ExtensionBrowser } from '../helpers/chromium';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * Circles in three real Chromium: Olga shares her connection with her circle only. She creates the
 * circle and an invite for Ana on the options page; Ana joins with the link and is served; Sam, who
 * has no invite, is never introduced to Olga's exit; when Olga revokes Ana's invite, Ana is cut off
 * at once and not introduced again.
 */
let origin: OriginServer;
let signaling: SignalingServer;
let olga: ExtensionBrowser;
let ana: ExtensionBrowser;
let sam: ExtensionBrowser;
let appOrigin: string;
let dataOrigin: string;

beforeAll(async () => {
  origin = await startOriginServer();
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  olga = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  const requesterRules = ['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1'];
  [ana, sam] = await Promise.all([launchWithExtension(requesterRules), launchWithExtension(requesterRules)]);
  // Requests without an exit give up after 4 s rather than the default minute.
  const requester = {
    signalingUrl: signaling.url,
    routedOrigins: [appOrigin],
    queue: { ...DEFAULT_SETTINGS.queue, requestTimeoutMs: 4000 },
  };
  await Promise.all([ana.setSettings(requester), sam.setSettings(requester)]);
  await Promise.all([waitForRoutedScripts(ana), waitForRoutedScripts(sam)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([closeAll(olga), closeAll(ana), closeAll(sam)]);
  await closeAll(signaling, origin);
});

const options = async (browser: ExtensionBrowser): Promise<Page> => {
  const page = await browser.context.newPage();
  await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
  return page;
};

/** A routed fetch in a page of `browser`: the body, or the error's text (the category in parentheses). */
async function routedFetch(browser: ExtensionBrowser, path: string): Promise<string> {
  const page = await browser.context.newPage();
  await page.goto(`${appOrigin}/app`);
  const result = await page.evaluate(async (url) => {
    try {
      return await (await fetch(url)).text();
    } catch (error) {
      return `error: ${String(error)} ${String((error as { cause?: { message?: string } }).cause?.message ?? '')}`;
    }
  }, `${dataOrigin}${path}`);
  await page.close();
  return result;
}

describe('circles: sharing with people you know', () => {
  let inviteLink = '';

  it('Olga creates a circle, invites Ana by a link, and shares with her circle only', async () => {
    const page = await options(olga);
    await page.getByTestId('circle-name').fill('Family');
    await page.getByTestId('circle-create').click();
    await expect.poll(() => page.getByTestId('circle-Family').isVisible()).toBe(true);
    await page.getByTestId('circle-Family').getByTestId('invite-label').fill('Ana');
    await page.getByTestId('circle-Family').getByTestId('invite-create').click();
    inviteLink = await page.getByTestId('invite-link').inputValue();
    expect(inviteLink).toMatch(/^peerlane:\/\/join\/[A-Za-z0-9_-]+$/);
    // Sharing, with her circle only, chosen on the same page.
    await page.getByTestId('share').check();
    await page.locator('input[name="shareWith"][value="circles"]').check();
    await page.getByTestId('privateAllowList').fill(DEV_PRIVATE_ALLOW_LIST.join(', '));
    await page.getByTestId('exitPorts').fill([...DEFAULT_SETTINGS.exitPorts, origin.port].join(', '));
    await page.getByTestId('signalingUrl').fill(signaling.url);
    await page.getByTestId('save').click();
    await expect.poll(async () => (await backgroundState(olga)).settings.shareWith).toBe('circles');
    await expect
      .poll(async () => (await backgroundState(olga)).transport.circles?.member.length, { timeout: 15_000 })
      .toBe(1);
    await expect.poll(() => page.getByTestId('circle-Family').textContent()).toMatch(/verified by signaling/);
    await page.screenshot({ path: 'test/artifacts/options-circles-owner.png', fullPage: true });
    await page.close();
  });

  it('Ana joins with the link and her routed requests go through Olga', async () => {
    const page = await options(ana);
    await page.getByTestId('circle-link').fill(inviteLink);
    await page.getByTestId('circle-join').click();
    await expect
      .poll(() => page.getByTestId('circle-Family').textContent(), { timeout: 15_000 })
      .toMatch(/verified by signaling/);
    await expect.poll(async () => (await backgroundState(ana)).stats.peers, { timeout: 30_000 }).toBe(1);
    expect(await routedFetch(ana, '/small.txt')).toMatch(/^hello from the origin/);
    // Only through the exit: Ana's browser cannot resolve the data origin's name.
    expect(
      origin.requests.some((request) => request.path === '/small.txt' && request.address === DEV_ORIGIN_ADDRESS),
    ).toBe(true);
    await page.close();
  });

  it("Sam, with no invite, is never introduced to Olga's exit", async () => {
    expect(await routedFetch(sam, '/small.txt')).toMatch(/no_peers/);
    const state = await backgroundState(sam);
    expect(state.stats.peers).toBe(0);
    expect(state.transport.availableExits).toBe(0);
    expect((await backgroundState(olga)).peers.filter((peer) => peer.remoteRole === 'requester')).toHaveLength(1);
  });

  it("Olga revokes Ana's invite: Ana is cut off at once and not introduced again", async () => {
    const page = await options(olga);
    await page.getByTestId('invite-Ana').getByTestId('invite-revoke').click();
    await expect.poll(() => page.getByTestId('invite-Ana').textContent()).toMatch(/revoked/);
    await expect
      .poll(async () => (await backgroundState(olga)).peers.filter((peer) => peer.remoteRole === 'requester').length, {
        timeout: 10_000,
      })
      .toBe(0);
    await expect.poll(async () => (await backgroundState(ana)).stats.peers, { timeout: 10_000 }).toBe(0);
    const anaOptions = await options(ana);
    await expect
      .poll(() => anaOptions.getByTestId('circle-Family').textContent(), { timeout: 10_000 })
      .toMatch(/revoked/);
    await anaOptions.screenshot({ path: 'test/artifacts/options-circles-revoked.png', fullPage: true });
    expect(await routedFetch(ana, '/small.txt')).toMatch(/no_peers/);
    expect((await backgroundState(ana)).transport.circles).toMatchObject({ member: [] });
    await anaOptions.close();
    await page.close();
  });
});
