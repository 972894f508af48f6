import { errorText } from '../core/errors';
import browser from 'webextension-polyfill';
import {
  CIRCLES_STORAGE_KEY,
  createCircle,
  invite,
  isRevoked,
  join,
  leave,
  parseCircles,
  revoke,
  type CirclesStore,
} from '../core/circles/circles';
import { POPUP_PORT_NAME, toPopupSchema } from '../core/channels/popup-channel';
import type { CircleMembership } from '../core/channels/transport-channel';
import { parseMessage } from '../core/channels/parse';
import { t } from './i18n';

/**
 * The options page's circles card: create a circle, invite one person at a time (a link to send them),
 * revoke an invite, join by a link, leave. Circles act at once (no Save): each change is written to
 * `storage.local` and the background tells signaling. What signaling made of each credential comes
 * back over the popup channel (verified, revoked, refused).
 */
export function startCirclesPanel(card: HTMLElement): void {
  const list = card.querySelector<HTMLUListElement>('#circle-list')!;
  const problems = card.querySelector<HTMLElement>('#circle-problems')!;
  const note = card.querySelector<HTMLElement>('#circle-note')!;
  let store: CirclesStore = parseCircles(null);
  let membership: CircleMembership | null = null;
  /** The invite just made, shown with its link until the page is left. */
  let fresh: { circle: string; link: string } | null = null;

  const change = async (update: (current: CirclesStore) => Promise<CirclesStore>, done: string): Promise<void> => {
    problems.textContent = '';
    try {
      const current = parseCircles((await browser.storage.local.get(CIRCLES_STORAGE_KEY))[CIRCLES_STORAGE_KEY]);
      store = await update(current);
      await browser.storage.local.set({ [CIRCLES_STORAGE_KEY]: store });
      note.textContent = done;
      render();
    } catch (error) {
      problems.textContent = errorText(error);
      note.textContent = '';
    }
  };

  const button = (label: string, testId: string, onClick: () => void): HTMLButtonElement => {
    const element = document.createElement('button');
    element.type = 'button';
    element.textContent = label;
    element.dataset.testid = testId;
    element.addEventListener('click', onClick);
    return element;
  };
  const span = (value: string, className = ''): HTMLSpanElement => {
    const element = document.createElement('span');
    element.textContent = value;
    element.className = className;
    return element;
  };

  /** What signaling said of this install's credential for `circle`. */
  const status = (circle: string, revoked: boolean): HTMLSpanElement => {
    if (revoked) return span(t('circleRevoked'), 'badge bad');
    const refused = membership?.refused.find((entry) => entry.circle === circle);
    if (refused) return span(t(refused.reason === 'revoked' ? 'circleRevoked' : 'circleRefused'), 'badge bad');
    if (membership?.member.includes(circle)) return span(t('circleVerified'), 'badge ok');
    return span(t('circleUnverified'), 'badge');
  };

  function render(): void {
    list.replaceChildren();
    for (const joined of store.joined) {
      const { circle, name } = joined.credential;
      const owned = store.owned.find((entry) => entry.circle === circle);
      const li = document.createElement('li');
      li.dataset.testid = `circle-${name}`;
      const head = document.createElement('div');
      head.className = 'circle-head';
      const title = document.createElement('strong');
      title.textContent = name;
      const actions = document.createElement('span');
      actions.className = 'actions-right';
      actions.append(
        button(
          t(owned ? 'circleDelete' : 'circleLeave'),
          'circle-leave',
          () => void change(async (current) => leave(current, circle), t('circleLeft', name)),
        ),
      );
      head.append(
        title,
        span(t(owned ? 'circleOwner' : 'circleMember'), 'muted small'),
        status(circle, isRevoked(store, joined.credential)),
        actions,
      );
      li.append(head);
      if (owned) {
        const revoked = new Set(store.revocations.find((entry) => entry.circle === circle)?.revoked ?? []);
        const invites = document.createElement('ul');
        invites.className = 'invites';
        for (const entry of owned.invites) {
          const row = document.createElement('li');
          row.dataset.testid = `invite-${entry.label}`;
          row.append(
            span(entry.label || t('circleInviteUnnamed')),
            span(new Date(entry.createdAt).toLocaleDateString(), 'muted'),
          );
          if (revoked.has(entry.invite)) {
            row.classList.add('revoked');
            row.append(span(t('circleRevoked'), 'badge bad'));
          } else
            row.append(
              button(
                t('circleRevoke'),
                'invite-revoke',
                () =>
                  void change(
                    async (current) => revoke(current, circle, entry.invite),
                    t('circleInviteRevoked', entry.label),
                  ),
              ),
            );
          invites.append(row);
        }
        const inviteForm = document.createElement('form');
        inviteForm.className = 'inline-form';
        const labelInput = document.createElement('input');
        labelInput.type = 'text';
        labelInput.maxLength = 64;
        labelInput.placeholder = t('circleInviteFor');
        labelInput.setAttribute('aria-label', t('circleInviteFor'));
        labelInput.dataset.testid = 'invite-label';
        const submit = document.createElement('button');
        submit.type = 'submit';
        submit.textContent = t('circleInvite');
        submit.dataset.testid = 'invite-create';
        inviteForm.append(labelInput, submit);
        inviteForm.addEventListener('submit', (event) => {
          event.preventDefault();
          void change(async (current) => {
            const made = await invite(current, circle, labelInput.value || t('circleInviteUnnamed'), Date.now());
            fresh = { circle, link: made.link };
            return made.store;
          }, t('circleInviteMade'));
        });
        li.append(invites, inviteForm);
        if (fresh?.circle === circle) {
          const link = document.createElement('input');
          link.type = 'text';
          link.readOnly = true;
          link.className = 'invite-link';
          link.value = fresh.link;
          link.dataset.testid = 'invite-link';
          link.setAttribute('aria-label', t('circleInviteLink'));
          const copy = button(t('circleCopy'), 'invite-copy', () => {
            link.select();
            void navigator.clipboard.writeText(link.value).then(() => (note.textContent = t('circleCopied')));
          });
          const row = document.createElement('div');
          row.className = 'inline-form';
          row.append(link, copy);
          li.append(span(t('circleInviteLinkHint'), 'hint muted'), row);
        }
      }
      list.append(li);
    }
    if (store.joined.length === 0)
      list.append(Object.assign(document.createElement('li'), { className: 'muted', textContent: t('circlesNone') }));
  }

  card.querySelector<HTMLFormElement>('#circle-create')!.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).querySelector<HTMLInputElement>('input[name="name"]')!;
    void change(
      (current) => createCircle(current, input.value, Date.now()),
      t('circleCreated', input.value.trim()),
    ).then(() => (input.value = problems.textContent ? input.value : ''));
  });
  card.querySelector<HTMLFormElement>('#circle-join')!.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).querySelector<HTMLInputElement>('input[name="link"]')!;
    void change((current) => join(current, input.value, Date.now()), t('circleJoined')).then(
      () => (input.value = problems.textContent ? input.value : ''),
    );
  });

  // Storage is the truth (another options page, a revocation signaling pushed).
  browser.storage.onChanged.addListener((changes, area) => {
    if (area !== 'local' || !(CIRCLES_STORAGE_KEY in changes)) return;
    store = parseCircles(changes[CIRCLES_STORAGE_KEY].newValue);
    render();
  });
  void browser.storage.local.get(CIRCLES_STORAGE_KEY).then((stored) => {
    store = parseCircles(stored[CIRCLES_STORAGE_KEY]);
    render();
  });
  const port = browser.runtime.connect({ name: POPUP_PORT_NAME });
  port.onMessage.addListener((raw: unknown) => {
    const parsed = parseMessage(toPopupSchema, raw);
    if (!parsed.ok) return;
    const next = parsed.message.state.transport.circles;
    if (JSON.stringify(next) === JSON.stringify(membership)) return;
    membership = next;
    render();
  });
}
