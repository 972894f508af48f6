// Full zod, configured once for both ends (protocol/zod.ts): every full-zod schema imports it from here.
export { z } from '../../../protocol/zod';
