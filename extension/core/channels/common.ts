import { ERROR_CATEGORIES } from '../errors';
import { z } from '../schema/zod-mini';
import { isBytes } from '../bytes';
import { MAX_HEADERS, MAX_HEADER_NAME_CHARS, MAX_HEADER_VALUE_CHARS } from '../protocol/limits';

/** Pieces several channels share, in zod/mini (small). Content scripts carry no schema at all: page-channel.ts reads by hand. */
export const headerListSchema = z
  .array(
    z.tuple([
      z.string().check(z.maxLength(MAX_HEADER_NAME_CHARS)),
      z.string().check(z.maxLength(MAX_HEADER_VALUE_CHARS)),
    ]),
  )
  .check(z.maxLength(MAX_HEADERS));
export const errorShapeSchema = z.object({
  category: z.enum(ERROR_CATEGORIES),
  message: z.string().check(z.maxLength(2048)),
});

/**
 * Body bytes. Extension messages are structured clones (Chrome with `message_serialization:
 * structured_clone`, Firefox always), so a Uint8Array arrives as one, from whichever realm sent it.
 */
export const bytesSchema = z.custom<Uint8Array>(isBytes, 'expected bytes');

export type HeaderList = [string, string][];
export interface ErrorShape {
  category: (typeof ERROR_CATEGORIES)[number];
  message: string;
}
