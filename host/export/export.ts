import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readTflite } from '../tflite/reader.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { BUILD_TIME_FILES, generateFirmwareFiles, type GeneratedFile, type ModelSummary } from './generate.ts';

/** Where `plastisort export` writes by default, relative to the repository root / working directory. */
export const DEFAULT_EXPORT_DIR = 'firmware/main/model';

async function readModelFile(path: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: cannot read the model (${code ?? String(e)}); pass an existing .tflite file`);
  }
}

export async function generateFromFile(tflitePath: string): Promise<{ summary: ModelSummary; files: GeneratedFile[] }> {
  const bytes = await readModelFile(tflitePath);
  const model = readTflite(bytes, tflitePath);
  return generateFirmwareFiles(bytes, model, tflitePath);
}

export interface ExportResult {
  summary: ModelSummary;
  written: string[];
  unchanged: string[];
}

/**
 * Writes the firmware files for a model into outDir. Files whose bytes would not change are left
 * untouched, so their modification times (and the firmware's incremental build) stay put.
 */
export async function exportModel(tflitePath: string, outDir: string): Promise<ExportResult> {
  const { summary, files } = await generateFromFile(tflitePath);
  const written: string[] = [];
  const unchanged: string[] = [];
  for (const f of files) {
    const path = join(outDir, f.name);
    if (existsSync(path) && (await readFile(path, 'utf8')) === f.content) {
      unchanged.push(path);
      continue;
    }
    await writeFileAtomic(path, f.content);
    written.push(path);
  }
  return { summary, written, unchanged };
}

export interface CheckResult {
  summary: ModelSummary;
  /** Files that differ from what the model gives, or are missing (paths). */
  stale: string[];
  /** Build-time files that are absent; fine, the firmware build writes them. */
  absentBuildTime: string[];
}

/** Compares the files in outDir with what the model gives, writing nothing. */
export async function checkExport(tflitePath: string, outDir: string): Promise<CheckResult> {
  const { summary, files } = await generateFromFile(tflitePath);
  const stale: string[] = [];
  const absentBuildTime: string[] = [];
  for (const f of files) {
    const path = join(outDir, f.name);
    if (!existsSync(path)) {
      if (BUILD_TIME_FILES.includes(f.name)) absentBuildTime.push(path);
      else stale.push(path);
      continue;
    }
    if ((await readFile(path, 'utf8')) !== f.content) stale.push(path);
  }
  return { summary, stale, absentBuildTime };
}
