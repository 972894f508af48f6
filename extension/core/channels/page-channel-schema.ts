import { REDIRECT_MODES } from '../protocol/request-fields';
import { PRIORITIES } from '../queue/priority-lanes';
import { arrayBufferSchema, headerListSchema } from './common';
import type { PageToBridge } from './page-channel';
import { z } from './zod-mini';

/** What the bridge accepts from the page (untrusted: any page script can post on the channel). */
const id = z.number().check(z.int());
export const pageToBridgeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), id, method: z.string().check(z.maxLength(16)), url: z.string().check(z.maxLength(8192)), headers: headerListSchema, priority: z.enum(PRIORITIES), body: z.nullable(arrayBufferSchema), redirect: z.enum(REDIRECT_MODES), integrity: z.string().check(z.maxLength(4096)), origin: z.nullable(z.string().check(z.maxLength(512))) }),
  z.object({ type: z.literal('consumed'), id, bytes: z.number().check(z.int(), z.minimum(0)) }),
  z.object({ type: z.literal('cancel'), id }),
]);

// The schema and the hook's type describe the same messages.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const PAGE_SCHEMA_MATCHES_TYPE: Same<z.infer<typeof pageToBridgeSchema>, PageToBridge> = true;
