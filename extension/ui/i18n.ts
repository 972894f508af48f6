import browser from 'webextension-polyfill';

/**
 * Strings live in `_locales/<lang>/messages.json` (English is complete). Markup names its strings
 * with data-i18n attributes; code calls `t`. A missing key shows as the key itself, so it is seen.
 */
export function t(key: string, substitutions?: string | string[]): string {
  return browser.i18n.getMessage(key, substitutions) || key;
}

/** Fills text, titles, ARIA labels and placeholders from the attributes that name them. */
export function localizePage(root: ParentNode = document): void {
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n]'))
    element.textContent = t(element.dataset.i18n!);
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n-title]'))
    element.title = t(element.dataset.i18nTitle!);
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n-aria-label]'))
    element.setAttribute('aria-label', t(element.dataset.i18nAriaLabel!));
  for (const element of root.querySelectorAll<HTMLInputElement>('[data-i18n-placeholder]'))
    element.placeholder = t(element.dataset.i18nPlaceholder!);
  document.documentElement.lang = browser.i18n.getUILanguage();
}
