import { describe, expect, it } from 'vitest';
import { checkDestination, DEFAULT_EXIT_POLICY, isPrivateAddress } from '../../extension/core/exit/policy';

const corpus: [string, string, 'allowed' | 'destination_refused' | 'method_refused'][] = [
  ['https://example.com/', 'GET', 'allowed'],
  ['http://example.com:8080/x', 'HEAD', 'allowed'],
  ['https://93.184.216.34/', 'GET', 'allowed'],
  ['https://[2606:2800:220:1::]/', 'GET', 'allowed'],
  ['https://example.com/', 'POST', 'method_refused'],
  ['https://example.com/', 'DELETE', 'method_refused'],
  ['ftp://example.com/', 'GET', 'destination_refused'],
  ['file:///etc/passwd', 'GET', 'destination_refused'],
  ['javascript:alert(1)', 'GET', 'destination_refused'],
  ['not a url', 'GET', 'destination_refused'],
  ['http://127.0.0.1/', 'GET', 'destination_refused'],
  ['http://127.8.9.10:8080/', 'GET', 'destination_refused'],
  ['http://10.1.2.3/', 'GET', 'destination_refused'],
  ['http://172.16.0.1/', 'GET', 'destination_refused'],
  ['http://172.31.255.255/', 'GET', 'destination_refused'],
  ['http://172.32.0.1/', 'GET', 'allowed'],
  ['http://192.168.1.1/', 'GET', 'destination_refused'],
  ['http://169.254.169.254/latest/meta-data', 'GET', 'destination_refused'],
  ['http://100.64.0.1/', 'GET', 'destination_refused'],
  ['http://0.0.0.0/', 'GET', 'destination_refused'],
  ['http://224.0.0.1/', 'GET', 'destination_refused'],
  ['http://255.255.255.255/', 'GET', 'destination_refused'],
  ['http://[::1]/', 'GET', 'destination_refused'],
  ['http://[fd00::1]/', 'GET', 'destination_refused'],
  ['http://[fe80::1]/', 'GET', 'destination_refused'],
  ['http://[::ffff:127.0.0.1]/', 'GET', 'destination_refused'],
  ['http://[::ffff:7f00:1]/', 'GET', 'destination_refused'],
  ['http://2130706433/', 'GET', 'destination_refused'],
  ['http://0x7f.1/', 'GET', 'destination_refused'],
  ['http://017700000001/', 'GET', 'destination_refused'],
  ['http://127.1/', 'GET', 'destination_refused'],
  ['http://localhost:3000/', 'GET', 'destination_refused'],
  ['http://LOCALHOST./', 'GET', 'destination_refused'],
  ['http://api.localhost/', 'GET', 'destination_refused'],
  ['http://printer.local/', 'GET', 'destination_refused'],
  ['http://user:pw@example.com/', 'GET', 'destination_refused'],
];

describe('exit policy v1', () => {
  it.each(corpus)('%s %s → %s', (url, method, expected) => {
    const verdict = checkDestination(url, method, DEFAULT_EXIT_POLICY);
    expect(verdict.allowed ? 'allowed' : verdict.error.category).toBe(expected);
  });

  it('allowPrivateTargets lets loopback through but keeps the scheme and method rules', () => {
    const dev = { ...DEFAULT_EXIT_POLICY, allowPrivateTargets: true };
    expect(checkDestination('http://127.0.0.1:9/', 'GET', dev).allowed).toBe(true);
    expect(checkDestination('file:///etc/passwd', 'GET', dev).allowed).toBe(false);
    expect(checkDestination('http://127.0.0.1:9/', 'POST', dev).allowed).toBe(false);
  });

  it.each([
    ['127.0.0.1', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:192.168.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['8.8.8.8', false],
    ['2001:4860:4860::8888', false],
    ['fc12::1', true],
  ])('connected address %s private=%s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});
