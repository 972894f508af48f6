import * as dnsPacket from '@leichtgewicht/dns-packet';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A DNS-over-HTTPS resolver (RFC 8484, GET, wire format) on loopback for the tests: a Chromium exit
 * asks it what a name resolves to before connecting, as it asks a public resolver in production.
 * `answer` decides each question; every question asked is logged, so a test can tell that a look-up
 * happened and how often.
 */
export type DohVerdict = { addresses: string[]; ttlSeconds?: number } | 'NXDOMAIN' | 'SERVFAIL';

export interface DohServer {
  url: string;
  /** Every question asked, in order: `name type`. */
  questions: string[];
  close(): Promise<void>;
}

export async function startDohServer(
  answer: (name: string, type: 'A' | 'AAAA') => DohVerdict,
  host = '127.0.0.1',
): Promise<DohServer> {
  const questions: string[] = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://resolver');
    const encoded = url.searchParams.get('dns');
    if (url.pathname !== '/dns-query' || !encoded) {
      response.writeHead(400).end();
      return;
    }
    const query = dnsPacket.decode(Buffer.from(encoded, 'base64url'));
    const question = query.questions?.[0];
    if (!question || (question.type !== 'A' && question.type !== 'AAAA')) {
      response.writeHead(400).end();
      return;
    }
    questions.push(`${question.name} ${question.type}`);
    const verdict = answer(question.name.toLowerCase(), question.type);
    const ofType = (address: string): boolean =>
      question.type === 'A' ? !address.includes(':') : address.includes(':');
    const type = question.type;
    const answers: dnsPacket.Answer[] =
      typeof verdict === 'string'
        ? []
        : verdict.addresses
            .filter(ofType)
            .map((data) => ({ type, name: question.name, ttl: verdict.ttlSeconds ?? 60, class: 'IN', data }));
    const body = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      // The response code is the flags' low four bits (RFC 1035): 3 NXDOMAIN, 2 SERVFAIL.
      flags:
        dnsPacket.RECURSION_DESIRED |
        dnsPacket.RECURSION_AVAILABLE |
        (verdict === 'NXDOMAIN' ? 3 : verdict === 'SERVFAIL' ? 2 : 0),
      questions: [question],
      answers,
    });
    response.writeHead(200, { 'content-type': 'application/dns-message', 'content-length': String(body.byteLength) });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/dns-query`,
    questions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The answers Chromium's `--host-resolver-rules` give (`MAP name address[:port]`, `MAP *.suffix …`,
 * `MAP * …`, `~NOTFOUND`, `EXCLUDE name`), so a browser's exit looks names up as the browser resolves
 * them. A port in a rule is not a DNS matter and is dropped. Names no rule maps do not exist.
 */
export function answersFromHostRules(rules: readonly string[]): (name: string) => DohVerdict {
  const parsed = rules.flatMap((rule): { matches: (name: string) => boolean; verdict: DohVerdict | 'exclude' }[] => {
    const [verb, pattern, target] = rule.trim().split(/\s+/);
    if (!pattern) return [];
    const matches = (name: string): boolean =>
      pattern === '*' || pattern === name || (pattern.startsWith('*.') && name.endsWith(pattern.slice(1)));
    if (verb === 'EXCLUDE') return [{ matches, verdict: 'exclude' }];
    if (verb !== 'MAP' || !target) return [];
    const address =
      target === '~NOTFOUND'
        ? null
        : target.startsWith('[')
          ? target.slice(1, target.indexOf(']'))
          : target.split(':')[0]!;
    return [{ matches, verdict: address === null ? 'NXDOMAIN' : { addresses: [address] } }];
  });
  return (name) => {
    // Chromium applies the first rule that matches; EXCLUDE leaves the name to the real resolver (none here).
    const rule = parsed.find((each) => each.matches(name));
    return !rule || rule.verdict === 'exclude' ? 'NXDOMAIN' : rule.verdict;
  };
}
