import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readTflite } from '../tflite/reader.ts';
import { validateTfliteModel } from '../tflite/validate.ts';
import { UserError } from '../util/errors.ts';

/**
 * Reads a .tflite for a board or a bundle and runs the full model reader and structural checks on it,
 * so a truncated or damaged file is refused before any byte is sent or packed.
 */
export async function readModelForDevice(path: string): Promise<{ data: Uint8Array; source: string }> {
  if (!existsSync(path)) throw new UserError(`${path}: no such model file`);
  const data = new Uint8Array(await readFile(path));
  let problems: string[];
  try {
    problems = validateTfliteModel(readTflite(data, path));
  } catch (e) {
    // The reader's messages name the file and the fix already.
    const why = (e as Error).message.split('\n')[0]!;
    throw new UserError(why.includes(path) ? why : `${path}: ${why}`);
  }
  if (problems.length > 0) {
    throw new UserError(`${path}: not a usable model (${problems[0]}${problems.length > 1 ? `, and ${problems.length - 1} more` : ''}); re-export it with plastisort quantize`);
  }
  return { data, source: path };
}
