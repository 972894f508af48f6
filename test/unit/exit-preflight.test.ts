import { describe, expect, it } from 'vitest';
import { createExitHandler, type ExitFetcher } from '../../extension/core/exit/exit-service';
import { DEFAULT_EXIT_POLICY } from '../../extension/core/exit/policy';
import type { RequestHead } from '../../extension/core/protocol/frames';
import { flush } from '../helpers/fake-clock';

/** Runs one request through an exit with the default policy (GET and HEAD); reports what was fetched or refused. */
async function exitServes(request: RequestHead, body: Uint8Array<ArrayBuffer> | null = null) {
  const fetched: { method: string; headers: [string, string][]; forbidden: [string, string | null][] }[] = [];
  const fetcher: ExitFetcher = async (outgoing) => {
    fetched.push({ method: outgoing.method, headers: outgoing.headers, forbidden: outgoing.forbiddenHeaders });
    return {
      head: { status: 204, statusText: 'No Content', headers: [['access-control-allow-origin', '*']] },
      body: null,
    };
  };
  let refused: string | null = null;
  let status: number | null = null;
  const handler = createExitHandler(fetcher, () => ({ ...DEFAULT_EXIT_POLICY }), {
    bytesSent: () => undefined,
    finished: () => undefined,
  });
  void handler(
    request,
    {
      head: (head) => (status = head.status),
      write: async () => undefined,
      end: () => undefined,
      error: (error) => (refused = error.category),
    },
    new AbortController().signal,
    body,
  );
  await flush();
  return { fetched, refused, status };
}

describe('exit: CORS preflights are judged as the method they ask about', () => {
  const preflight = (method: string): RequestHead => ({
    method: 'OPTIONS',
    url: 'https://api.example/data',
    headers: [
      ['access-control-request-method', method],
      ['access-control-request-headers', 'x-api-key'],
      ['cookie', 'never'],
    ],
  });

  it("carries the preflight of a method it carries: its own headers and the page's Origin for the host to set, nothing else of the page", async () => {
    const result = await exitServes({ ...preflight('GET'), origin: 'http://app.example' });
    expect(result).toMatchObject({ refused: null, status: 204 });
    expect(result.fetched).toEqual([
      {
        method: 'OPTIONS',
        headers: [],
        forbidden: [
          ['origin', 'http://app.example'],
          ['access-control-request-method', 'GET'],
          ['access-control-request-headers', 'x-api-key'],
        ],
      },
    ]);
  });

  it("a request without an Origin asks the host to send none (not the extension's own)", async () => {
    const result = await exitServes({ method: 'GET', url: 'https://api.example/data', headers: [] });
    expect(result.fetched[0]?.forbidden).toEqual([['origin', null]]);
  });

  it('refuses the preflight of a method it does not carry, before the page sends that request', async () => {
    expect(await exitServes(preflight('PUT'))).toMatchObject({ refused: 'method_refused', fetched: [] });
  });

  it('an OPTIONS that is not a preflight, or carries a body, is judged as OPTIONS', async () => {
    expect(await exitServes({ method: 'OPTIONS', url: 'https://api.example/', headers: [] })).toMatchObject({
      refused: 'method_refused',
      fetched: [],
    });
    expect(await exitServes(preflight('GET'), new Uint8Array([1]))).toMatchObject({
      refused: 'method_refused',
      fetched: [],
    });
  });
});
