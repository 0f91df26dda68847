/**
 * Where int8's class flips come from. For each seed's fine-tuned run of bench/paper-protocol
 * (`.cache/bench/paper-protocol/finetuned-<resize>-seed<N>`), quantize as the protocol ships it (all
 * training images, the calibration method `--method auto` chose, recorded in the shipped `.tflite`'s
 * report) and simulate int8 in the float executor with only part of the network on its int8 grid: the
 * frozen front (input to `block_12_add`), the fine-tuned tail (after it), weights only, activations only,
 * everything, the logits alone. Per part: how many validation and test images change class against float, in which
 * direction, and the mean L1 distance of the class probabilities. The shipped `.tflite` run in LiteRT is
 * recorded beside the simulated "everything" to show how far the simulation is from integer kernels,
 * with the float margins (top-1 − top-2 probability) of the images it flips.
 *
 *   SEEDS=1,2,3,4,5 npm run bench -- int8-attribution   # → bench/results/int8-attribution.json
 *   BLOCKS=1 adds one part per block of the front (its activations alone), and the front's activations
 *   split into ReLU6 outputs and linear bottlenecks.
 *   RUN=path/run-seed{seed} reads other runs (and their `.tflite`, quantized beside them as path/run-seed{seed}.tflite).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readManifest } from '../host/data/manifest-io.ts';
import { loadTflitePredictor } from '../host/eval/tflite-predictor.ts';
import { contractScaling, predictScores, withClasses, type ClassScores } from '../host/quantize/evaluate-int8.ts';
import { IrExecutor, type FakeQuant } from '../host/quantize/execute.ts';
import { fakeQuantOf, inputQuantization } from '../host/quantize/int8-params.ts';
import { quantizeModel, type CalibrationMethod } from '../host/quantize/quantize-model.ts';
import { loadItems, runManifestPath, reportPathFor, selectCalibrationItems, quantizeConfigFor } from '../host/quantize/quantize-run.ts';
import { initBackend } from '../host/train/backend.ts';
import { loadRun } from '../host/train/run-folder.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.cache/bench/paper-protocol');
const outFile = process.env.OUT_FILE ? resolve(process.env.OUT_FILE) : join(root, 'bench/results/int8-attribution.json');
const seeds = (process.env.SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const resize = process.env.RESIZE ?? 'center-crop';
const boundaryName = process.env.BOUNDARY ?? 'block_12_add';

interface FlipCount {
  /** Images whose top-1 class differs from float's. */
  flips: number;
  /** Of those: float right and int8 wrong, float wrong and int8 right. */
  lost: number;
  gained: number;
  meanL1: number;
}

function flipsAgainst(float: ClassScores, q: ClassScores, labels: number[]): FlipCount {
  let flips = 0;
  let lost = 0;
  let gained = 0;
  let l1 = 0;
  q.classes.forEach((c, i) => {
    if (c !== float.classes[i]) {
      flips++;
      if (float.classes[i] === labels[i]) lost++;
      if (c === labels[i]) gained++;
    }
    q.probabilities[i]!.forEach((p, j) => (l1 += Math.abs(p - float.probabilities[i]![j]!)));
  });
  return { flips, lost, gained, meanL1: l1 / Math.max(1, q.classes.length) };
}

/** Float's top-1 minus top-2 probability per image: how near a tie each decision is. */
function margins(float: ClassScores): number[] {
  return float.probabilities.map((p) => {
    const [a, b] = [...p].sort((x, y) => y - x);
    return a! - (b ?? 0);
  });
}

/**
 * How near a tie the images LiteRT flips were in float, against all images: each flipped image's float
 * margin, and how many of all images have a margin no larger than the largest flipped one.
 */
function flipMargins(float: ClassScores, q: ClassScores) {
  const m = margins(float);
  const flipped = m.filter((_, i) => q.classes[i] !== float.classes[i]);
  const widest = flipped.length ? Math.max(...flipped) : 0;
  const sorted = [...m].sort((a, b) => a - b);
  return { flipped: flipped.map((x) => Number(x.toFixed(4))), imagesWithin: flipped.length ? m.filter((x) => x <= widest).length : 0, medianMargin: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(4)) };
}

/** Keeps the int8 grid only on the values and weighted ops `keep` accepts (by op index; −1 is the input). */
function restrict(fq: FakeQuant, producer: Map<number, number>, opIndex: Map<string, number>, keep: (opIndex: number, what: 'activation' | 'weights') => boolean): FakeQuant {
  return {
    activations: new Map([...fq.activations].filter(([id]) => keep(producer.get(id) ?? -1, 'activation'))),
    params: new Map([...fq.params].filter(([name]) => keep(opIndex.get(name)!, 'weights'))),
  };
}

await initBackend();
const results: Array<Record<string, unknown>> = [];
for (const seed of seeds) {
  const runDir = process.env.RUN ? resolve(process.env.RUN.replaceAll('{seed}', String(seed))) : join(work, `finetuned-${resize}-seed${seed}`);
  const shipped = `${runDir}.tflite`;
  if (!existsSync(join(runDir, 'config.json')) || !existsSync(reportPathFor(shipped))) {
    console.warn(`int8-attribution: seed ${seed} skipped — needs ${runDir} and ${shipped} with its report; run bench/paper-protocol first`);
    continue;
  }
  const method = JSON.parse(readFileSync(reportPathFor(shipped), 'utf8')).method as CalibrationMethod;
  const { config, model } = await loadRun(runDir);
  const { manifest, sha256 } = await readManifest(runManifestPath(config, runDir));
  const splits = {
    val: manifest.items.filter((it) => it.split === 'val'),
    test: manifest.items.filter((it) => it.split === 'test'),
  };
  const images = {
    val: await loadItems(manifest, splits.val, config.inputSize, config.resize),
    test: await loadItems(manifest, splits.test, config.inputSize, config.resize),
  };
  const calibration = await loadItems(manifest, selectCalibrationItems(manifest, Infinity, seed), config.inputSize, config.resize);
  const t0 = performance.now();
  const q = await quantizeModel(
    model,
    quantizeConfigFor(config, sha256),
    calibration,
    { method, seed },
  );
  model.dispose();
  console.log(`seed ${seed}: quantized (${method}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const graph = q.graph;
  const boundary = graph.ops.findIndex((op) => op.name === boundaryName);
  if (boundary < 0) throw new Error(`no op named ${boundaryName} in the lowered graph`);
  const producer = new Map(graph.ops.map((op, k) => [op.output, k]));
  const opIndex = new Map(graph.ops.map((op, k) => [op.name, k]));
  const full = fakeQuantOf(graph, q.params);
  const softmax = graph.ops.find((op) => op.kind === 'SOFTMAX');
  const logits = softmax ? producer.get(softmax.inputs[0]!)! : -2;
  const parts: Record<string, FakeQuant | undefined> = {
    float: undefined,
    everything: full,
    front: restrict(full, producer, opIndex, (k) => k <= boundary),
    tail: restrict(full, producer, opIndex, (k) => k > boundary),
    'logits only': restrict(full, producer, opIndex, (k, what) => what === 'activation' && k === logits),
    'weights only': restrict(full, producer, opIndex, (_k, what) => what === 'weights'),
    'activations only': restrict(full, producer, opIndex, (_k, what) => what === 'activation'),
  };
  if (process.env.BLOCKS === '1') {
    // One part per MobileNetV2 block of the front (the stem is `Conv1`/`expanded_conv`): its activations alone.
    const blockOf = (name: string) => /^(block_\d+)_/.exec(name)?.[1] ?? (name.startsWith('expanded_conv') ? 'expanded_conv' : 'stem');
    const blocks = [...new Set(graph.ops.slice(0, boundary + 1).map((op) => blockOf(op.name)))];
    for (const b of blocks) parts[`activations of ${b}`] = restrict(full, producer, opIndex, (k, what) => what === 'activation' && k >= 0 && k <= boundary && blockOf(graph.ops[k]!.name) === b);
    // The front's activations by kind: ReLU6 outputs (range fixed by the clip) against the linear
    // bottlenecks (project convolutions and residual adds, signed, unclipped).
    const isLinear = (k: number) => k >= 0 && graph.ops[k]!.kind !== 'PAD' && !('activation' in graph.ops[k]! && graph.ops[k]!.activation === 'RELU6');
    parts['front activations: linear bottlenecks'] = restrict(full, producer, opIndex, (k, what) => what === 'activation' && k >= 0 && k <= boundary && isLinear(k));
    parts['front activations: ReLU6 outputs'] = restrict(full, producer, opIndex, (k, what) => what === 'activation' && k >= 0 && k <= boundary && !isLinear(k));
  }
  const scaling = contractScaling(inputQuantization(config.floatScaling));
  const scores: Record<string, Record<'val' | 'test', ClassScores>> = {};
  for (const [part, fq] of Object.entries(parts)) {
    const exec = new IrExecutor(graph, fq);
    scores[part] = {
      val: await predictScores(exec, images.val, config.inputSize, scaling, 8),
      test: await predictScores(exec, images.test, config.inputSize, scaling, 8),
    };
    exec.dispose();
  }
  const lite = await loadTflitePredictor(shipped);
  const liteRt = { val: withClasses(await lite.predict(images.val)), test: withClasses(await lite.predict(images.test)) };
  lite.dispose();
  const labels = { val: splits.val.map((it) => it.label), test: splits.test.map((it) => it.label) };
  const float = scores.float!;
  const entry: Record<string, unknown> = { seed, method, boundary: boundaryName, images: { val: images.val.length, test: images.test.length } };
  const byPart: Record<string, unknown> = {};
  const compared: Array<[string, Record<'val' | 'test', ClassScores>]> = [...Object.entries(scores).filter(([p]) => p !== 'float'), ['LiteRT (shipped .tflite)', liteRt]];
  for (const [part, s] of compared) {
    byPart[part] = { val: flipsAgainst(float.val, s.val, labels.val), test: flipsAgainst(float.test, s.test, labels.test) };
  }
  const accuracy = (c: ClassScores, l: number[]) => c.classes.filter((k, i) => k === l[i]).length / Math.max(1, l.length);
  entry.accuracy = {
    float: { val: accuracy(float.val, labels.val), test: accuracy(float.test, labels.test) },
    liteRt: { val: accuracy(liteRt.val, labels.val), test: accuracy(liteRt.test, labels.test) },
  };
  entry.parts = byPart;
  entry.liteRtFlipMargins = { val: flipMargins(float.val, liteRt.val), test: flipMargins(float.test, liteRt.test) };
  entry.simulatedVsLiteRtTestAgreement = scores.everything!.test.classes.filter((c, i) => c === liteRt.test.classes[i]).length / images.test.length;
  entry.seconds = Math.round((performance.now() - t0) / 1000);
  results.push(entry);
  for (const [part, f] of Object.entries(byPart) as Array<[string, Record<'val' | 'test', FlipCount>]>) {
    console.log(`  ${part.padEnd(26)} val flips ${f.val.flips} (−${f.val.lost}/+${f.val.gained})  test flips ${f.test.flips} (−${f.test.lost}/+${f.test.gained})  test L1 ${f.test.meanL1.toFixed(4)}`);
  }
  const tm = (entry.liteRtFlipMargins as { test: ReturnType<typeof flipMargins> }).test;
  console.log(`  LiteRT test flips' float margins ${tm.flipped.join(', ') || '—'}; ${tm.imagesWithin} of ${images.test.length} test images that near a tie (median margin ${tm.medianMargin})`);
  await writeJsonAtomic(outFile, {
    benchmark: 'int8-attribution',
    note: 'flips = images whose top-1 class differs from float; lost = float right, int8 wrong; gained = the reverse. Simulation: float executor with the chosen values and weights on their int8 grid.',
    command: `${process.env.RUN ? `RUN=${process.env.RUN} ` : ''}${process.env.BLOCKS === '1' ? 'BLOCKS=1 ' : ''}SEEDS=${seeds.join(',')}${process.env.OUT_FILE ? ` OUT_FILE=${process.env.OUT_FILE}` : ''} npm run bench -- int8-attribution`,
    seeds: results,
  });
}
