import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.ts';
import { isProcessRunning } from './children.ts';
import { isOwnOutput, OUTPUT_MARKER, outputMarkerText, type OutGuard } from './out-dir.ts';

function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes to a temporary sibling and renames, so a reader never sees a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** JSON with two-space indent and a final newline: stable bytes for the same value. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, stableJson(value));
}

/** Removes temporary siblings of `path` left by a run that was killed (its process is gone). */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = name.startsWith(prefix) ? /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (!m || isProcessRunning(Number(m[1]))) continue;
    await rm(join(dirname(path), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'ENOTDIR') return false;
    throw e;
  }
}

/**
 * Builds a whole output folder under a temporary name and renames it into place, so an interrupted
 * run leaves either the old folder or the complete new one. With `owner`, the folder is marked as
 * that command's output and an existing folder is replaced only when it is that command's own
 * (checked again here, at the moment of replacing, whatever the caller checked earlier).
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
  owner?: Pick<OutGuard, 'command' | 'writesInto' | 'legacy'>,
): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await removeStaleTemps(dir);
  const tmp = tempNameFor(dir);
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    if (owner) {
      if (!(await isEmptyOrMissing(dir)) && !isOwnOutput(dir, owner)) {
        throw new UserError(`${dir} holds files plastisort ${owner.command} did not write; name a new or empty folder (nothing was replaced)`);
      }
      await writeFile(join(tmp, OUTPUT_MARKER), outputMarkerText(owner.command));
    }
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
