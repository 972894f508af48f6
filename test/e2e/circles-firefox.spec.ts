import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { waitFor } from '../helpers/chromium';
import { closeAll } from '../helpers/close-all';
import { launchFirefoxPeer, openFirefoxExtensionPage, type FirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../helpers/origin-server';
import { startStage, type Stage } from '../helpers/stage';

/**
 * Circles in Firefox, as circles.spec.ts does in Chromium: Olga (Firefox) shares with her circle
 * only; she creates it and an invite for Ana on her options page; Ana (Firefox) joins with the link
 * and is served through Olga; when Olga revokes the invite, Ana is cut off at once and refused after.
 */
let stage: Stage;
let olga: FirefoxPeer;
let ana: FirefoxPeer;

beforeAll(async () => {
  stage = await startStage();
  const { signaling, appOrigin } = stage;
  // Olga's names resolve to the origin's allowed private address; Ana resolves only the app's.
  olga = await launchFirefoxPeer(['loopback.peerlane.test'], { resolveOthersTo: DEV_ORIGIN_ADDRESS });
  ana = await launchFirefoxPeer(['app.peerlane.test']);
  await ana.setSettings({
    signalingUrl: signaling.url,
    routedOrigins: [appOrigin],
    // Requests without an exit give up after 4 s rather than the default minute.
    queue: { ...DEFAULT_SETTINGS.queue, requestTimeoutMs: 4000 },
  });
}, 90_000);

afterAll(async () => {
  await closeAll(ana, olga);
  await stage.close();
});

const optionsOf = (peer: FirefoxPeer): Promise<Page> =>
  openFirefoxExtensionPage(
    peer.browser,
    `${peer.baseUrl}/extension/ui/options.html`,
    'document.readyState === "complete"',
  );

/** Types into a field as a person would, replacing what it held. */
async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (element) => ((element as HTMLInputElement).value = ''));
  await page.type(selector, value);
}

const textOf = (page: Page, selector: string): Promise<string> =>
  page.$eval(selector, (element) => element.textContent).catch(() => '');

/** A routed fetch in a page of Ana's: the body, or the error's text (its category in parentheses). */
async function routedFetch(path: string): Promise<string> {
  const page = await ana.browser.newPage();
  await page.goto(`${stage.appOrigin}/app`);
  const result = await page.evaluate(async (url) => {
    try {
      return await (await fetch(url)).text();
    } catch (error) {
      return `error: ${String(error)} ${String((error as { cause?: { message?: string } }).cause?.message ?? '')}`;
    }
  }, `${stage.dataOrigin}${path}`);
  await page.close();
  return result;
}

describe('circles in Firefox: sharing with people you know', () => {
  let inviteLink = '';

  it('Olga creates a circle, invites Ana by a link, and shares with her circle only', async () => {
    const page = await optionsOf(olga);
    await fill(page, '[data-testid="circle-name"]', 'Family');
    await page.click('[data-testid="circle-create"]');
    await page.waitForSelector('[data-testid="circle-Family"]', { timeout: 10_000 });
    await fill(page, '[data-testid="circle-Family"] [data-testid="invite-label"]', 'Ana');
    await page.click('[data-testid="circle-Family"] [data-testid="invite-create"]');
    await page.waitForFunction(
      () => document.querySelector<HTMLInputElement>('[data-testid="invite-link"]')?.value.startsWith('peerlane://'),
      { timeout: 10_000 },
    );
    inviteLink = await page.$eval('[data-testid="invite-link"]', (element) => (element as HTMLInputElement).value);
    expect(inviteLink).toMatch(/^peerlane:\/\/join\/[A-Za-z0-9_-]+$/);
    await page.click('[data-testid="share"]');
    await page.click('input[name="shareWith"][value="circles"]');
    await fill(page, '[data-testid="privateAllowList"]', DEV_PRIVATE_ALLOW_LIST.join(', '));
    await fill(page, '[data-testid="exitPorts"]', [...DEFAULT_SETTINGS.exitPorts, stage.origin.port].join(', '));
    await fill(page, '[data-testid="signalingUrl"]', stage.signaling.url);
    await page.click('[data-testid="save"]');
    const state = await waitFor(
      () => olga.state(),
      (each) => each.settings.shareWith === 'circles' && each.transport.circles?.member.length === 1,
      'Olga sharing with her circle, the circle verified by signaling',
      15_000,
    );
    expect(state.settings.share).toBe(true);
    await waitFor(
      () => textOf(page, '[data-testid="circle-Family"]'),
      (text) => /verified by signaling/.test(text),
      'the circle shown verified',
    );
    await page.close();
  });

  it('Ana joins with the link and her routed requests go through Olga', async () => {
    const page = await optionsOf(ana);
    await fill(page, '[data-testid="circle-link"]', inviteLink);
    await page.click('[data-testid="circle-join"]');
    await waitFor(
      () => textOf(page, '[data-testid="circle-Family"]'),
      (text) => /verified by signaling/.test(text),
      'Ana in the circle, verified by signaling',
      15_000,
    );
    await waitFor(
      async () => (await ana.state()).stats.peers,
      (peers) => peers === 1,
      'Ana connected to Olga',
      30_000,
    );
    expect(await routedFetch('/small.txt')).toMatch(/^hello from the origin/);
    // Fetched by Olga's browser: only it reaches the origin on its allowed private address.
    expect(
      stage.origin.requests.some((request) => request.path === '/small.txt' && request.address === DEV_ORIGIN_ADDRESS),
    ).toBe(true);
    await page.close();
  });

  it("Olga revokes Ana's invite: Ana is cut off at once and refused after", async () => {
    const page = await optionsOf(olga);
    await page.click('[data-testid="invite-Ana"] [data-testid="invite-revoke"]');
    await waitFor(
      () => textOf(page, '[data-testid="invite-Ana"]'),
      (text) => /revoked/.test(text),
      'the invite shown revoked',
    );
    await waitFor(
      async () => (await olga.state()).peers.filter((peer) => peer.remoteRole === 'requester').length,
      (count) => count === 0,
      'Olga no longer serving Ana',
      10_000,
    );
    await waitFor(
      async () => (await ana.state()).stats.peers,
      (peers) => peers === 0,
      'Ana cut off',
      10_000,
    );
    const anaOptions = await optionsOf(ana);
    await waitFor(
      () => textOf(anaOptions, '[data-testid="circle-Family"]'),
      (text) => /revoked/.test(text),
      "Ana's circle shown revoked",
      10_000,
    );
    expect(await routedFetch('/small.txt')).toMatch(/no_peers/);
    expect((await ana.state()).transport.circles).toMatchObject({ member: [] });
    await anaOptions.close();
    await page.close();
  });
});
