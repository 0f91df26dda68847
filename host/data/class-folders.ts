/**
 * The class folders of a data folder: which subfolders are classes, their sanitised names (which become
 * C identifiers in the firmware), and every image file beneath each, in a listing-independent order.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';

const C_KEYWORDS = new Set(
  (
    'auto break case char const continue default do double else enum extern float for goto if inline int long ' +
    'register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while ' +
    'bool true false alignas alignof class delete new namespace nullptr operator private protected public template ' +
    'this throw try catch typename using virtual'
  ).split(' '),
);

/** Lower-case, runs of characters outside [a-z0-9_] become one '_', '_' trimmed from both ends. */
export function sanitizeClassName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Why a sanitised name cannot be a C identifier / firmware label, or null when it can. */
export function classNameProblem(sanitized: string): string | null {
  if (sanitized.length === 0) return 'has no letters or digits';
  if (/^[0-9]/.test(sanitized)) return `becomes "${sanitized}", which starts with a digit`;
  if (C_KEYWORDS.has(sanitized)) return `becomes "${sanitized}", a C/C++ keyword`;
  if (sanitized.length > 63) return `becomes a ${sanitized.length}-character name (at most 63)`;
  return null;
}
export const byCodepoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface ClassDir {
  folder: string;
  name: string;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function subfolderCount(dir: string): Promise<number> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    let n = 0;
    for (const e of entries) if (!e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(dir, e.name)))))) n++;
    return n;
  } catch {
    return 0;
  }
}

/** Class folders under `root`: visible subfolders, sanitised and checked; selected and ordered by `wanted`. */
export async function findClasses(root: string, dataArg: string, wanted?: readonly string[]): Promise<ClassDir[]> {
  let entries;
  try {
    const st = await stat(root);
    if (!st.isDirectory()) throw new UserError(`--data ${dataArg}: is a file, not a folder; give the folder that holds one folder per class`);
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`--data ${dataArg}: folder not found; give the folder that holds one folder per class (e.g. data/plastic/cup/*.jpg)`);
  }
  const folders: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(root, e.name))))) folders.push(e.name);
  }
  folders.sort(byCodepoint);
  if (folders.length === 0) {
    throw new UserError(`--data ${dataArg}: no class folders inside; put each class's images in its own subfolder (e.g. ${dataArg}/cup/)`);
  }
  const all: ClassDir[] = [];
  const bySanitized = new Map<string, string>();
  for (const folder of folders) {
    const name = sanitizeClassName(folder);
    const problem = classNameProblem(name);
    if (problem) {
      throw new UserError(
        `class folder "${join(dataArg, folder)}" ${problem}; class names become C identifiers in the firmware, so rename the folder (letters, digits, '_', starting with a letter)`,
      );
    }
    const clash = bySanitized.get(name);
    if (clash !== undefined) {
      throw new UserError(
        `class folders "${join(dataArg, clash)}" and "${join(dataArg, folder)}" both become the label "${name}"; rename one of them`,
      );
    }
    bySanitized.set(name, folder);
    all.push({ folder, name });
  }
  if (!wanted) {
    if (all.length < 2) {
      const only = all[0]!.folder;
      // A dataset's own layout often wraps the class folders in one more folder (plastic6/images/cup/…).
      const inner = await subfolderCount(join(root, only));
      const hint = inner >= 2 ? `; "${join(dataArg, only)}" holds ${inner} folders: did you mean --data ${join(dataArg, only)}?` : '';
      throw new UserError(`--data ${dataArg}: only one class folder ("${only}"); a classifier needs at least two, one folder of images per class${hint}`);
    }
    return all;
  }
  const chosen: ClassDir[] = [];
  for (const w of wanted) {
    const hit = all.find((c) => c.folder === w) ?? all.find((c) => c.name === sanitizeClassName(w));
    if (!hit) {
      throw new UserError(`--classes: no class folder "${w}" in ${dataArg}; available: ${all.map((c) => c.folder).join(',')}`);
    }
    if (chosen.includes(hit)) throw new UserError(`--classes: "${w}" is listed twice; list each class once`);
    chosen.push(hit);
  }
  if (chosen.length < 2) throw new UserError(`--classes: a classifier needs at least two classes, got ${chosen.length}`);
  return chosen;
}

/**
 * Every visible file under `dir`, any depth, as paths relative to `dir` with '/' separators, sorted.
 * A symbolic link back to a folder above it (a loop) is skipped with a warning; `above` holds the
 * real paths of the folders above `dir` (give the data root, so a link back to it counts too).
 */
export async function walkFiles(dir: string, prefix = '', above: ReadonlySet<string> = new Set()): Promise<string[]> {
  const here = await realpath(dir);
  if (above.has(here)) {
    log.warn(`skipped ${dir}: a symbolic link back to a folder above it (a loop); remove the link`);
    return [];
  }
  const path = new Set(above).add(here);
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const abs = join(dir, e.name);
    let isDirectory = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const st = await stat(abs);
        isDirectory = st.isDirectory();
        isFile = st.isFile();
      } catch {
        isFile = true; // a dangling link: reported as unreadable
      }
    }
    if (isDirectory) out.push(...(await walkFiles(abs, rel, path)));
    else if (isFile) out.push(rel);
  }
  return out.sort(byCodepoint);
}
