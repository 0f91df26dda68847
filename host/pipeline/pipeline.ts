import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateSynthDataset } from '../data/synth.ts';
import { logSplitSummary, splitDataset } from '../data/split.ts';
import { readManifest, writeManifest } from '../data/manifest-io.ts';
import { buildDataReport } from '../data/data-report.ts';
import { runEvaluate } from '../eval/run-evaluate.ts';
import type { EvalMetrics } from '../shared/metrics.ts';
import { exportModel } from '../export/export.ts';
import { quantizeRun } from '../quantize/quantize-run.ts';
import { buildHtmlReport } from '../report/html.ts';
import type { EvaluationSection, ReportInput } from '../report/report-input.ts';
import { runHil } from '../hil/run-hil.ts';
import { inspectModel } from '../tflite/inspect.ts';
import { readTflite } from '../tflite/reader.ts';
import { resolveImagenet } from '../train/backbone-cache.ts';
import { finetuneRun, trainBaseline } from '../train/trainer.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { runPipeline, type PipelineStage, type StageOutcome } from './stage-runner.ts';
import { checkPipelineOptions } from './checks.ts';
import { retireForeignJournal, withJournalLock } from '../hil/journal-lock.ts';

export interface PipelineOptions {
  /** Photo folder (one folder per class); default: the built-in synthetic set, generated into the run. */
  data?: string;
  out: string;
  inputSize: number;
  /** imagenet (the default: cache, ../shared, download, else nsfwjs), a tfjs folder, .tflite, .h5, or 'nsfwjs'. */
  backbone?: string;
  seed: number;
  /** Synthetic images per class when no --data is given. */
  synthPerClass: number;
  baselineEpochs?: number;
  finetuneEpochs?: number;
  views?: number;
  calib: number | 'all';
  /** Serial port of a board for HIL; default: the host simulator. */
  port?: string;
  baud?: number;
  /** Skip the HIL stage (e.g. when the simulator was not built). */
  skipHil?: boolean;
}

export interface PipelinePaths {
  data: string;
  manifest: string;
  dataReport: string;
  baseline: string;
  finetuned: string;
  evalBaseline: string;
  evalFinetuned: string;
  tflite: string;
  evalInt8: string;
  headers: string;
  hil: string;
  report: string;
  stamps: string;
}

export function pipelinePaths(opts: Pick<PipelineOptions, 'out' | 'data'>): PipelinePaths {
  const out = resolve(opts.out);
  return {
    data: opts.data ? resolve(opts.data) : join(out, 'data'),
    manifest: join(out, 'split.json'),
    dataReport: join(out, 'data-report'),
    baseline: join(out, 'runs', 'baseline'),
    finetuned: join(out, 'runs', 'finetuned'),
    evalBaseline: join(out, 'eval', 'baseline'),
    evalFinetuned: join(out, 'eval', 'finetuned'),
    tflite: join(out, 'model', 'plastisort.tflite'),
    evalInt8: join(out, 'eval', 'int8'),
    headers: join(out, 'firmware-model'),
    hil: join(out, 'hil'),
    report: join(out, 'report.html'),
    stamps: join(out, '.stamps'),
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  return existsSync(path) ? (JSON.parse(await readFile(path, 'utf8')) as T) : undefined;
}

/**
 * photos → split → baseline → fine-tune → float evaluation → int8 quantization → int8 evaluation →
 * firmware headers → HIL (simulator or board) → HTML report. Each stage is skipped when its inputs'
 * content and settings are unchanged and its outputs exist, so a re-run after an interruption
 * resumes at the first unfinished stage.
 */
export async function runFullPipeline(opts: PipelineOptions): Promise<{ paths: PipelinePaths; outcomes: StageOutcome[] }> {
  const p = pipelinePaths(opts);
  const backbone = opts.backbone ?? 'imagenet';
  await checkPipelineOptions(opts, backbone === 'imagenet' || backbone === 'nsfwjs' ? undefined : backbone);
  // Resolved (and downloaded) before the stages, so the train stage re-runs when the weights it would get change.
  const resolved = backbone === 'imagenet' ? await resolveImagenet() : undefined;
  if (resolved && resolved.spec !== 'nsfwjs') log.info(`backbone: ImageNet MobileNetV2 (${resolved.origin.via}) ${resolved.spec}`);
  const stages: PipelineStage[] = [];
  if (!opts.data) {
    stages.push({
      name: 'synth',
      inputs: [],
      outputs: [p.data],
      params: { perClass: opts.synthPerClass, seed: opts.seed, size: Math.max(opts.inputSize, 128) },
      run: async () => {
        await generateSynthDataset({ out: p.data, perClass: opts.synthPerClass, seed: opts.seed, size: Math.max(opts.inputSize, 128) });
      },
    });
  }
  stages.push(
    {
      name: 'split',
      inputs: [p.data],
      outputs: [p.manifest],
      params: { seed: opts.seed },
      run: async () => {
        const { manifest, emptyClasses } = await splitDataset({ data: p.data, seed: opts.seed });
        if (emptyClasses.length) throw new UserError(`${p.data}: no usable images in class ${emptyClasses.join(', ')}; add photos or remove the folder`);
        logSplitSummary(manifest);
        await writeManifest(p.manifest, manifest);
      },
    },
    {
      name: 'data-report',
      inputs: [p.manifest],
      outputs: [join(p.dataReport, 'report.md')],
      run: async () => {
        const { manifest } = await readManifest(p.manifest);
        await buildDataReport(manifest, p.dataReport);
      },
    },
    {
      name: 'train',
      inputs: [p.manifest],
      outputs: [p.baseline],
      params: { backbone: resolved?.spec ?? backbone, inputSize: opts.inputSize, epochs: opts.baselineEpochs, views: opts.views, seed: opts.seed },
      run: async () => {
        await trainBaseline({
          manifest: p.manifest,
          out: p.baseline,
          backbone,
          inputSize: opts.inputSize,
          epochs: opts.baselineEpochs,
          views: opts.views,
          seed: opts.seed,
        });
      },
    },
    {
      name: 'finetune',
      inputs: [p.baseline],
      outputs: [p.finetuned],
      params: { epochs: opts.finetuneEpochs, views: opts.views, seed: opts.seed },
      run: async () => {
        await finetuneRun({ from: p.baseline, out: p.finetuned, epochs: opts.finetuneEpochs, views: opts.views, seed: opts.seed });
      },
    },
    {
      name: 'evaluate-float',
      inputs: [p.baseline, p.finetuned, p.manifest],
      outputs: [p.evalBaseline, p.evalFinetuned],
      params: { split: 'test' },
      run: async () => {
        await runEvaluate({ target: p.baseline, split: 'test', out: p.evalBaseline, skipVerify: true });
        await runEvaluate({ target: p.finetuned, split: 'test', out: p.evalFinetuned, skipVerify: true });
      },
    },
    {
      name: 'quantize',
      inputs: [p.finetuned, p.manifest],
      outputs: [p.tflite],
      params: { calib: opts.calib, seed: opts.seed },
      run: async () => {
        await quantizeRun(p.finetuned, { out: p.tflite, calib: opts.calib, method: 'auto', seed: opts.seed });
      },
    },
    {
      name: 'evaluate-int8',
      inputs: [p.tflite, p.finetuned, p.manifest],
      outputs: [p.evalInt8],
      params: { split: 'test' },
      run: async () => {
        await runEvaluate({ target: p.tflite, split: 'test', out: p.evalInt8, floatRun: p.finetuned, skipVerify: true });
      },
    },
    {
      name: 'export',
      inputs: [p.tflite],
      outputs: [p.headers],
      run: async () => {
        await exportModel(p.tflite, p.headers);
      },
    },
  );
  if (!opts.skipHil) {
    stages.push({
      name: 'hil',
      inputs: [p.tflite, p.manifest],
      outputs: [join(p.hil, 'hil-report.json')],
      params: { port: opts.port ?? 'sim', baud: opts.baud ?? 0 },
      run: async () => {
        const journal = join(p.hil, 'journal.jsonl');
        retireForeignJournal(journal, p.tflite, p.manifest, 'test');
        await withJournalLock(journal, () => runHil({
          model: p.tflite,
          manifest: p.manifest,
          split: 'test',
          port: opts.port,
          sim: !opts.port,
          baud: opts.baud ?? 0,
          out: p.hil,
          journal,
          dump: 1,
          window: 2,
          timeoutMs: 10_000,
          retries: 3,
          references: true,
        }));
      },
    });
  }
  stages.push({
    name: 'report',
    inputs: [p.manifest, p.dataReport, p.baseline, p.finetuned, p.evalBaseline, p.evalFinetuned, p.tflite, p.evalInt8, p.hil],
    outputs: [p.report],
    summary: true,
    run: async () => {
      await buildHtmlReport(await reportInput(p, opts), p.report);
    },
  });
  const outcomes = await runPipeline(stages, p.stamps, (name, i, total, status) => {
    if (status === 'start') process.stderr.write(`\n== stage ${i + 1}/${total}: ${name} ==\n`);
  });
  return { paths: p, outcomes };
}

async function reportInput(p: PipelinePaths, opts: PipelineOptions): Promise<ReportInput> {
  const { manifest } = await readManifest(p.manifest);
  const config = await readJson<{ backbone?: ReportInput['backbone'] }>(join(p.baseline, 'config.json'));
  const evaluations: EvaluationSection[] = [];
  for (const [label, dir] of [
    ['baseline', p.evalBaseline],
    ['fine-tuned', p.evalFinetuned],
    ['int8 (LiteRT)', p.evalInt8],
  ] as const) {
    const m = await readJson<EvalMetrics>(join(dir, 'metrics.json'));
    const errorsImage = join(dir, 'errors.png');
    if (m) evaluations.push({ label, metrics: m, ...(existsSync(errorsImage) ? { errorsImage } : {}) });
  }
  const hil = await readJson<Parameters<typeof buildHtmlReport>[0]['hil'] & { metrics?: { device?: EvalMetrics } }>(join(p.hil, 'hil-report.json'));
  if (hil?.metrics?.device) evaluations.push({ label: opts.port ? 'device' : 'device (simulator)', metrics: hil.metrics.device });
  const bytes = new Uint8Array(await readFile(p.tflite));
  const inspect = inspectModel(readTflite(bytes, p.tflite), bytes.length);
  return {
    title: 'plastisort run report',
    generatedAt: new Date().toISOString(),
    subtitle: opts.data ? `data: ${opts.data}` : 'data: built-in synthetic photo set',
    backbone: config?.backbone,
    dataset: {
      manifest,
      manifestPath: p.manifest,
      contactSheet: existsSync(join(p.dataReport, 'contact-sheet.png')) ? join(p.dataReport, 'contact-sheet.png') : undefined,
      notes: opts.data ? [] : ['Synthetic images rendered by plastisort data synth: a smoke test of the whole path, not a measure of real-world accuracy.'],
    },
    training: {
      baseline: await readJson(join(p.baseline, 'history.json')),
      finetune: await readJson(join(p.finetuned, 'history.json')),
    },
    evaluations,
    primary: 'fine-tuned',
    model: { path: p.tflite, ...inspect },
    hil: hil ?? undefined,
    hilTarget: opts.port ? 'device' : 'simulator',
  };
}
