/** Anything a test starts and must stop: browsers, servers, coturn, Redis, a certificate on disk. */
export type Closable = { close(): unknown } | { stop(): unknown } | { remove(): unknown };

/**
 * Teardown for an `afterAll`: stops each resource in the order given (browsers before the servers
 * they talk to). A resource may be undefined at run time, (or null) when the `beforeAll` that starts it failed
 * part way; it is skipped. Every resource is tried even when one fails; the failures are then thrown together.
 */
export async function closeAll(...resources: (Closable | null | undefined)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const resource of resources) {
    if (resource === undefined || resource === null) continue;
    try {
      if ('close' in resource) await resource.close();
      else if ('stop' in resource) await resource.stop();
      else await resource.remove();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0)
    throw new AggregateError(failures, `${failures.length} of the test's resources failed to stop`);
}
