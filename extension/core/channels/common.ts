import { ERROR_CATEGORIES } from '../errors';
import { z } from './zod-mini';

/** Pieces several channels share. zod/mini: content scripts carry them, and they must stay small. */
export const headerListSchema = z.array(z.tuple([z.string().check(z.maxLength(256)), z.string().check(z.maxLength(8192))])).check(z.maxLength(200));
export const errorShapeSchema = z.object({ category: z.enum(ERROR_CATEGORIES), message: z.string().check(z.maxLength(2048)) });

/**
 * Body bytes. Extension messages are structured clones (Chrome with `message_serialization:
 * structured_clone`, Firefox always), so a Uint8Array arrives as one, from whichever realm sent it.
 */
export const bytesSchema = z.custom<Uint8Array>((value) => ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]', 'expected bytes');
export const arrayBufferSchema = z.custom<ArrayBuffer>((value) => Object.prototype.toString.call(value) === '[object ArrayBuffer]', 'expected an ArrayBuffer');

export type HeaderList = [string, string][];
export interface ErrorShape {
  category: (typeof ERROR_CATEGORIES)[number];
  message: string;
}
