import { accessSync, constants, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, parse, relative, resolve, sep } from 'node:path';
import { UserError } from './errors.ts';

/**
 * Every command that writes a folder leaves this file in it, naming itself. A later run of the same
 * command recognises the folder as its own and may replace it; any other non-empty folder is the
 * user's and is refused, because a command never deletes or overwrites what it did not create.
 */
export const OUTPUT_MARKER = '.plastisort-output.json';

export interface OutputMarker {
  writtenBy: string;
}

export interface OutGuard {
  /** The command, as the user types it after `plastisort`: 'data synth', 'train', … */
  command: string;
  /** The option that named the path, for messages (default --out). */
  option?: string;
  /** Paths the command reads: the output may not be one of them, contain one or lie inside one. */
  inputs?: (string | undefined)[];
  /** Other commands whose folders this one may add its files to (evaluate writes into a run folder). */
  writesInto?: string[];
  /** Recognises this command's output from before the marker existed. */
  legacy?: (path: string) => boolean;
}

export function realOrResolved(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    // Not there yet: resolve the part that exists, so a symlinked parent still compares equal.
    const parent = dirname(abs);
    return parent === abs ? abs : join(realOrResolved(parent), abs.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
  }
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !parse(rel).root;
}

export function readOutputMarker(dir: string): OutputMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, OUTPUT_MARKER), 'utf8')) as Partial<OutputMarker>;
    return typeof m.writtenBy === 'string' ? { writtenBy: m.writtenBy } : undefined;
  } catch {
    return undefined;
  }
}

export function outputMarkerText(command: string): string {
  return JSON.stringify({ writtenBy: command, note: 'plastisort may replace this folder when the same command writes it again' }, null, 2) + '\n';
}

/** Marks `dir` as `command`'s output unless it already carries a marker (e.g. a run folder evaluate writes into). */
export async function markOutput(dir: string, command: string): Promise<void> {
  if (!readOutputMarker(dir)) await writeFile(join(dir, OUTPUT_MARKER), outputMarkerText(command));
}

/** A legacy signature: the folder holds every one of `names` (files or folders). */
export function holdsAll(...names: string[]): (dir: string) => boolean {
  return (dir) => names.every((n) => existsSync(join(dir, n)));
}

/**
 * Checks `dir` (guardOutDir), creates it and marks a new or empty one, for commands that write named
 * files into a folder. A folder already recognised (a run folder evaluate writes into, the committed
 * firmware/main/model) is left without a marker.
 */
export async function prepareOutDir(dir: string, g: OutGuard): Promise<void> {
  guardOutDir(dir, g);
  await mkdir(dir, { recursive: true });
  if (readdirSync(dir).length === 0) await markOutput(dir, g.command);
}

/** A legacy signature: the folder's JSON file `name` has `field` equal to `value`. */
export function holdsJson(name: string, field: string, value: unknown): (dir: string) => boolean {
  return (dir) => {
    try {
      return (JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>)[field] === value;
    } catch {
      return false;
    }
  };
}

/** Is `dir` a folder that `command` (or one of `writesInto`) wrote, by marker or by its legacy signature? */
export function isOwnOutput(dir: string, g: Pick<OutGuard, 'command' | 'writesInto' | 'legacy'>): boolean {
  const m = readOutputMarker(dir);
  if (m) return m.writtenBy === g.command || (g.writesInto ?? []).includes(m.writtenBy);
  return g.legacy?.(dir) ?? false;
}

function checkPlace(out: string, g: OutGuard, what: 'folder' | 'file'): string {
  const opt = g.option ?? '--out';
  if (out.trim() === '') throw new UserError(`${opt} is empty; name a ${what} to write, e.g. ${opt} out/result`);
  const abs = realOrResolved(out);
  const cwd = realOrResolved(process.cwd());
  if (abs === cwd || isInside(cwd, abs) || abs === parse(abs).root || abs === realOrResolved(homedir())) {
    throw new UserError(`${opt} ${out} is the current folder, one above it or your home folder; name a new ${what} such as out/result (nothing was written)`);
  }
  for (const input of g.inputs ?? []) {
    if (!input) continue;
    const inp = realOrResolved(input);
    if (abs === inp) throw new UserError(`${opt} ${out} is the input ${input}; write to another ${what} (nothing was written)`);
    if (isInside(inp, abs)) throw new UserError(`${opt} ${out} contains the input ${input}; write to a ${what} outside it (nothing was written)`);
    if (isInside(abs, inp)) throw new UserError(`${opt} ${out} lies inside the input ${input}; write to a ${what} outside it (nothing was written)`);
  }
  // The nearest existing ancestor must be a folder we may write in.
  let parent = dirname(abs);
  while (!existsSync(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new UserError(`${opt} ${out}: ${parent} is a file, not a folder; choose another path`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new UserError(`${opt} ${out}: no permission to write in ${parent}; choose a folder you can write to`);
  }
  return abs;
}

/**
 * Refuses, before any work, an output folder the command may not write: `.`/`..`, an input or a folder
 * holding one, a file, or a non-empty folder some other command or the user wrote.
 */
export function guardOutDir(out: string, g: OutGuard): void {
  const abs = checkPlace(out, g, 'folder');
  const opt = g.option ?? '--out';
  if (!existsSync(abs)) return;
  if (!statSync(abs).isDirectory()) throw new UserError(`${opt} ${out} is a file; name a folder (nothing was written)`);
  if (readdirSync(abs).length === 0 || isOwnOutput(abs, g)) return;
  const m = readOutputMarker(abs);
  const whose = m ? `output of plastisort ${m.writtenBy}` : 'files plastisort did not write';
  throw new UserError(
    `${opt} ${out} already holds ${whose}; name a new or empty folder, or move it away yourself (plastisort ${g.command} replaces only its own output; nothing was written)`,
  );
}

/** The same for an output file: an existing file is replaced only when `isOwn` recognises it. */
export function guardOutFile(out: string, g: OutGuard & { isOwn?: (path: string) => boolean }): void {
  const abs = checkPlace(out, g, 'file');
  const opt = g.option ?? '--out';
  if (out.endsWith('/') || out.endsWith(sep)) throw new UserError(`${opt} ${out} names a folder; give a file name (nothing was written)`);
  if (!existsSync(abs)) return;
  if (statSync(abs).isDirectory()) throw new UserError(`${opt} ${out} is a folder; give a file name inside it, e.g. ${join(out, 'out.json')} (nothing was written)`);
  if (!(g.isOwn?.(abs) ?? false)) {
    throw new UserError(`${opt} ${out} exists and plastisort ${g.command} did not write it; choose another name or move it away yourself (nothing was written)`);
  }
}
