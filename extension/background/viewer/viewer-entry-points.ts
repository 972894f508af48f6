import browser from 'webextension-polyfill';
import { targetForInput } from '../../core/viewer/viewer-url';

/**
 * Ways into the peer viewer besides the popup's field: "Open link via peers" on any link's context
 * menu, and the omnibox keyword `p2p` (type `p2p example.com`). Both open the browser's viewer URL
 * (`pathFor`: Chrome's service-worker path, Firefox's viewer page) where the person asked.
 */
const MENU_ID = 'peerlane-open-link-via-peers';

export function registerViewerEntryPoints(pathFor: (target: string) => string | null): void {
  const open = (
    path: string | null,
    where: 'currentTab' | 'newForegroundTab' | 'newBackgroundTab',
    tabId?: number,
  ): void => {
    if (!path) return;
    const url = browser.runtime.getURL(path);
    if (where === 'currentTab' && tabId !== undefined) void browser.tabs.update(tabId, { url });
    else void browser.tabs.create({ url, active: where !== 'newBackgroundTab' });
  };
  browser.runtime.onInstalled.addListener(() => {
    browser.contextMenus.create({
      id: MENU_ID,
      title: browser.i18n.getMessage('viewerOpenLink') || 'Open link via peers',
      contexts: ['link'],
    });
  });
  browser.contextMenus.onClicked.addListener((info) => {
    if (info.menuItemId === MENU_ID && info.linkUrl) open(pathFor(info.linkUrl), 'newForegroundTab');
  });
  browser.omnibox.setDefaultSuggestion({
    description: browser.i18n.getMessage('viewerOmniboxHint') || 'Open via peers',
  });
  browser.omnibox.onInputEntered.addListener((text, disposition) => {
    void browser.tabs
      .query({ active: true, currentWindow: true })
      .then(([tab]) =>
        open(((target) => (target ? pathFor(target) : null))(targetForInput(text)), disposition, tab?.id),
      );
  });
}
