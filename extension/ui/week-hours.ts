import { t } from './i18n';

/**
 * The options page's hours of the week: a row per day (Monday first, as people read a week; stored
 * Sunday first, as `Date.getDay`), a checkbox per hour. Each day is a 24-bit mask (core/exit/share-when.ts).
 */
const DISPLAY_ORDER = [1, 2, 3, 4, 5, 6, 0];

export function weekHoursGrid(container: HTMLElement): { get(): number[]; set(masks: readonly number[]): void } {
  const boxes: HTMLInputElement[][] = Array.from({ length: 7 }, () => []);
  container.append(document.createElement('span'));
  for (let hour = 0; hour < 24; hour += 1) {
    const head = document.createElement('span');
    head.className = 'hour-head';
    head.textContent = hour % 3 === 0 ? String(hour) : '';
    container.append(head);
  }
  const dayNames = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
  for (const day of DISPLAY_ORDER) {
    const name = document.createElement('span');
    name.className = 'day';
    // 2023-01-01 was a Sunday.
    name.textContent = dayNames.format(new Date(2023, 0, 1 + day));
    container.append(name);
    for (let hour = 0; hour < 24; hour += 1) {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.dataset.testid = `hour-${day}-${hour}`;
      box.setAttribute('aria-label', t('settingsHourLabel', [name.textContent, `${hour}:00`]));
      boxes[day]!.push(box);
      container.append(box);
    }
  }
  return {
    get: () => boxes.map((hours) => hours.reduce((mask, box, hour) => (box.checked ? mask | (1 << hour) : mask), 0)),
    set: (masks) => {
      for (let day = 0; day < 7; day += 1)
        for (let hour = 0; hour < 24; hour += 1) boxes[day]![hour]!.checked = (((masks[day] ?? 0) >>> hour) & 1) === 1;
    },
  };
}
