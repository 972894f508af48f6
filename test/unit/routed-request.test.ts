import { describe, expectTypeOf, it } from 'vitest';
import type { PageToBridge } from '../../extension/core/channels/page-channel';
import type { RequestStart } from '../../extension/core/channels/request-channel';
import type { ExitFetchRequest } from '../../extension/core/exit/exit-service';
import type { RequestHead } from '../../extension/core/protocol/frames';
import type { RoutedRequest, WireRequestHead } from '../../extension/core/protocol/routed-request';

/**
 * One routed request, one definition (core/protocol/routed-request.ts): every shape it takes on its
 * way is that definition, or is checked here to be. A field added to one and not the others fails
 * the type check (`npm run typecheck` runs these assertions too).
 */
type Fields<T> = Omit<T, 'type' | 'id'>;

describe('the routed request, defined once', () => {
  it('the page hook sends it whole, its body an ArrayBuffer', () => {
    expectTypeOf<Fields<Extract<PageToBridge, { type: 'request' }>>>().toEqualTypeOf<
      Required<RoutedRequest<ArrayBuffer>>
    >();
  });

  it('the background Port schema reads exactly its fields, the body as bytes', () => {
    expectTypeOf<keyof Fields<RequestStart>>().toEqualTypeOf<keyof RoutedRequest<Uint8Array>>();
    expectTypeOf<RequestStart['method']>().toEqualTypeOf<RoutedRequest<Uint8Array>['method']>();
    expectTypeOf<RequestStart['priority']>().toEqualTypeOf<RoutedRequest<Uint8Array>['priority']>();
    expectTypeOf<NonNullable<RequestStart['redirect']>>().toEqualTypeOf<
      NonNullable<RoutedRequest<Uint8Array>['redirect']>
    >();
    expectTypeOf<RequestStart['origin']>().toEqualTypeOf<RoutedRequest<Uint8Array>['origin']>();
  });

  it('the wire head carries the fields the exit needs, and no others', () => {
    expectTypeOf<keyof RequestHead>().toEqualTypeOf<keyof WireRequestHead>();
    expectTypeOf<RequestHead['redirect']>().toEqualTypeOf<WireRequestHead['redirect']>();
    expectTypeOf<RequestHead['origin']>().toEqualTypeOf<WireRequestHead['origin']>();
  });

  it('the exit fetch is given its url, method, headers and body', () => {
    expectTypeOf<Pick<ExitFetchRequest, 'url' | 'method' | 'headers' | 'body'>>().toEqualTypeOf<
      Pick<RoutedRequest<Uint8Array<ArrayBuffer>>, 'url' | 'method' | 'headers' | 'body'>
    >();
  });
});
