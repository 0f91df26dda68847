import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.ts';
import { log } from '../util/log.ts';

/**
 * A make-like stage runner: a stage runs again only when the content of its inputs or its parameters
 * changed, or one of its outputs is missing. A stage's stamp is written after it finished, so a run
 * killed midway resumes at the first stage without a valid stamp.
 */
export interface PipelineStage {
  name: string;
  /** Files or folders whose content the stage reads. */
  inputs: string[];
  /** Files or folders the stage writes; all must exist for the stage to count as done. */
  outputs: string[];
  /** Settings that change the stage's result (hashed into its stamp). */
  params?: unknown;
  /**
   * A summary of earlier stages (the HTML report): its outputs and stamp are removed as soon as an
   * earlier stage starts, so a run that fails later never leaves it looking current beside new results.
   */
  summary?: boolean;
  run(): Promise<void>;
}

export interface StageStamp {
  stage: string;
  inputsHash: string;
  outputsHash: string;
  finishedAt: string;
  seconds: number;
}

export interface StageOutcome {
  name: string;
  status: 'ran' | 'skipped';
  seconds: number;
}

async function hashFileInto(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
}

async function hashPathInto(hash: ReturnType<typeof createHash>, path: string, base: string): Promise<void> {
  if (!existsSync(path)) {
    hash.update(`missing:${relative(base, path)}\n`);
    return;
  }
  const s = await stat(path);
  if (s.isDirectory()) {
    const entries = (await readdir(path)).filter((e) => !e.startsWith('.')).sort();
    hash.update(`dir:${relative(base, path)}\n`);
    for (const e of entries) await hashPathInto(hash, join(path, e), base);
    return;
  }
  hash.update(`file:${relative(base, path)}:${s.size}\n`);
  await hashFileInto(hash, path);
}

/** SHA-256 over the content (not the times) of files and folders, hidden entries excluded. */
export async function hashPaths(paths: string[], params?: unknown): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(params ?? null));
  for (const p of paths) await hashPathInto(hash, p, '/');
  return hash.digest('hex');
}

export async function runPipeline(
  stages: PipelineStage[],
  stampDir: string,
  onStage?: (name: string, index: number, total: number, status: 'start' | 'ran' | 'skipped') => void,
): Promise<StageOutcome[]> {
  const outcomes: StageOutcome[] = [];
  for (const [i, stage] of stages.entries()) {
    const stampPath = join(stampDir, `${stage.name}.json`);
    const inputsHash = await hashPaths(stage.inputs, stage.params);
    let stamp: StageStamp | undefined;
    if (existsSync(stampPath)) {
      try {
        stamp = JSON.parse(await readFile(stampPath, 'utf8')) as StageStamp;
      } catch {
        stamp = undefined;
      }
    }
    const outputsPresent = stage.outputs.every((o) => existsSync(o));
    if (stamp && outputsPresent && stamp.inputsHash === inputsHash && stamp.outputsHash === (await hashPaths(stage.outputs))) {
      onStage?.(stage.name, i, stages.length, 'skipped');
      log.info(`[${i + 1}/${stages.length}] ${stage.name}: up to date, skipped`);
      outcomes.push({ name: stage.name, status: 'skipped', seconds: 0 });
      continue;
    }
    onStage?.(stage.name, i, stages.length, 'start');
    for (const later of stages.slice(i + 1).filter((s) => s.summary)) {
      for (const o of later.outputs) await rm(o, { recursive: true, force: true });
      await rm(join(stampDir, `${later.name}.json`), { force: true });
    }
    log.info(`[${i + 1}/${stages.length}] ${stage.name}: running`);
    const t0 = performance.now();
    await stage.run();
    const missing = stage.outputs.filter((o) => !existsSync(o));
    if (missing.length) {
      throw new Error(`pipeline stage "${stage.name}" finished without writing ${missing.join(', ')}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    await writeJsonAtomic(stampPath, {
      stage: stage.name,
      inputsHash,
      outputsHash: await hashPaths(stage.outputs),
      finishedAt: new Date().toISOString(),
      seconds,
    } satisfies StageStamp);
    onStage?.(stage.name, i, stages.length, 'ran');
    outcomes.push({ name: stage.name, status: 'ran', seconds });
  }
  return outcomes;
}
