import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** English is complete: every string the UI names exists, and every string in the file is used. */
const UI = 'extension/ui';
const messages = JSON.parse(readFileSync('extension/public/_locales/en/messages.json', 'utf8')) as Record<
  string,
  { message: string }
>;
const sources = readdirSync(UI)
  .filter((name) => /\.(html|ts)$/.test(name))
  .map((name) => readFileSync(join(UI, name), 'utf8'))
  .concat(readFileSync('extension/manifest.config.ts', 'utf8'))
  // The background names the strings of its context menu and omnibox entry.
  .concat(readFileSync('extension/background/viewer/viewer-entry-points.ts', 'utf8'));
const all = sources.join('\n');

// Keys built at run time from a state value, with every value they can take.
const DYNAMIC: Record<string, string[]> = {
  health_: ['healthy', 'warming', 'ejected', 'paused', 'connecting'],
  signaling_: ['offline', 'connecting', 'connected'],
  path_: ['direct', 'relayed', 'unknown'],
  nat_: ['unknown', 'open', 'cone', 'symmetric', 'blocked'],
  pausedBy_: ['schedule', 'daily_quota', 'monthly_quota', 'battery', 'metered'],
  circleStatus_: ['verified', 'pending', 'revoked', 'refused'],
};

function namedKeys(): Set<string> {
  const keys = new Set<string>();
  for (const match of all.matchAll(/data-i18n(?:-[a-z-]+)?="([A-Za-z0-9_]+)"/g)) keys.add(match[1]!);
  for (const match of all.matchAll(/\bt\(\s*'([A-Za-z0-9_]+)'/g)) keys.add(match[1]!);
  // t(condition ? 'a' : 'b'): both branches (a `??` default is not a key).
  for (const match of all.matchAll(/\bt\(([^()]*\?[^()]*)\)/g))
    for (const quoted of match[1]!.matchAll(/(?<!\?)[?:]\s*'([A-Za-z0-9_]+)'/g)) keys.add(quoted[1]!);
  for (const match of all.matchAll(/__MSG_([A-Za-z0-9_]+)__/g)) keys.add(match[1]!);
  for (const [prefix, values] of Object.entries(DYNAMIC)) for (const value of values) keys.add(`${prefix}${value}`);
  return keys;
}

describe('locales', () => {
  it('every string the UI names exists in English, with a non-empty message', () => {
    const missing = [...namedKeys()].filter((key) => !messages[key]?.message);
    expect(missing).toEqual([]);
  });

  it('every English string is used', () => {
    const named = namedKeys();
    const unused = Object.keys(messages).filter((key) => !named.has(key) && !all.includes(`'${key}'`));
    expect(unused).toEqual([]);
  });

  it('the dynamic key families are the ones the code builds', () => {
    for (const prefix of Object.keys(DYNAMIC)) expect(all).toContain(`t(\`${prefix}\${`);
  });
});
