import { createHash } from 'node:crypto';

/** SHA-256 of bytes or a UTF-8 string, as 64 lower-case hex digits. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
