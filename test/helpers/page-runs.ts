import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';

/**
 * Requests a test starts inside a routed page and follows from Node: each run records the bytes
 * read so far (so a fault can land mid-body) and its outcome; bodies come back as base64 and are
 * hashed here (the plain-http fixture pages have no crypto.subtle).
 */
export interface RunRequest {
  key: string;
  url: string;
  method?: string;
  headers?: Record<string, string>;
}

export type RunResult =
  { status: number; sha256: string; text: string; headers: Record<string, string> } | { error: string };

/** Starts `requests` in `page`; their outcomes land on window.runs by key. */
export async function startRuns(page: Page, requests: RunRequest[]): Promise<void> {
  await page.evaluate((list) => {
    const runs = ((window as unknown as { runs?: Record<string, unknown> }).runs ??= {}) as Record<
      string,
      { bytes: number; done: Promise<unknown> }
    >;
    for (const request of list) {
      const run = { bytes: 0, done: Promise.resolve<unknown>(null) };
      run.done = (async () => {
        try {
          const response = await fetch(request.url, {
            method: request.method ?? 'GET',
            headers: request.headers,
            cache: 'no-store',
          });
          const reader = response.body!.getReader();
          const parts: Uint8Array[] = [];
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parts.push(value);
            run.bytes += value.byteLength;
          }
          const body = new Uint8Array(run.bytes);
          let offset = 0;
          for (const part of parts) {
            body.set(part, offset);
            offset += part.byteLength;
          }
          let binary = '';
          for (let index = 0; index < body.length; index += 0x8000)
            binary += String.fromCharCode(...body.subarray(index, index + 0x8000));
          return {
            status: response.status,
            base64: btoa(binary),
            text: body.byteLength < 512 ? new TextDecoder().decode(body) : '',
            headers: Object.fromEntries(response.headers),
          };
        } catch (error) {
          const cause = (error as { cause?: { message?: string } }).cause?.message;
          return { error: cause ? `${String(error)} ${cause}` : String(error) };
        }
      })();
      runs[request.key] = run;
    }
  }, requests);
}

/** Waits for the runs to end; bodies as SHA-256 (hex). */
export async function runResults(page: Page, keys: string[]): Promise<Record<string, RunResult>> {
  const raw = (await page.evaluate(async (list) => {
    const runs = (window as unknown as { runs: Record<string, { done: Promise<unknown> }> }).runs;
    const out: Record<string, unknown> = {};
    for (const key of list) out[key] = await runs[key]!.done;
    return out;
  }, keys)) as Record<
    string,
    { error: string } | { status: number; base64: string; text: string; headers: Record<string, string> }
  >;
  return Object.fromEntries(
    Object.entries(raw).map(([key, result]): [string, RunResult] => {
      if ('error' in result) return [key, result];
      const { base64, ...rest } = result;
      return [key, { ...rest, sha256: createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex') }];
    }),
  );
}

/** Bytes each run has read so far. */
export const runBytes = (page: Page, keys: string[]): Promise<number[]> =>
  page.evaluate(
    (list) => list.map((key) => (window as unknown as { runs: Record<string, { bytes: number }> }).runs[key]!.bytes),
    keys,
  );
