/**
 * The one place a correlation id is made: twelve characters naming one request in both peers' logs
 * (requester and exit). `prefix` marks who made it when that is not the page (`check`: an exit
 * check's own request). Web Crypto's UUID: present in every context and in Node.
 */
export function newCorrelationId(prefix = ''): string {
  return (
    prefix +
    crypto
      .randomUUID()
      .replace(/-/g, '')
      .slice(0, 12 - prefix.length)
  );
}
