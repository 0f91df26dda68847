import { readFile } from 'node:fs/promises';
import { UserError } from './errors.ts';

/**
 * Reads a file the user named; a missing or unreadable file becomes a one-line UserError
 * "`shownAs`: cannot read `what` (CODE); `fix`" instead of a stack trace.
 */
export async function readInputFile(path: string, what: string, fix: string, shownAs = path): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e);
    throw new UserError(`${shownAs}: cannot read ${what} (${code}); ${fix}`);
  }
}

/** The bytes of a Buffer as a plain Uint8Array view (no copy). */
export function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
