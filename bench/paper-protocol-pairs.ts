/**
 * What bench/paper-protocol pairs with each seed's fine-tuned model: the plain linear probe on the same
 * split (bench/probe.ts) and the int8 `.tflite` of the fine-tuned run, both scored on the same test images.
 */
import { readFileSync } from 'node:fs';
import type { ResizePolicy } from '../host/data/images.ts';
import { readManifest } from '../host/data/manifest-io.ts';
import { computeMetrics, type EvalMetrics } from '../host/shared/metrics.ts';
import { loadItems, quantizeRun } from '../host/quantize/quantize-run.ts';
import { loadLiteRtModel } from '../host/tflite/litert.ts';
import { workerCount } from '../host/train/backend.ts';
import { loadBackbone } from '../host/train/backbones.ts';
import { frozenWeightsHash, getFeatures } from '../host/train/features.ts';
import { applyWeights, buildMobileNetV2, truncateAt } from '../host/train/mobilenetv2.ts';
import { readRunConfig } from '../host/train/run-folder.ts';
import { byPath, byVal, CLEAN_AUGMENT, fitProbe, ITERATION_CHOICES, PLAIN, PROBE_BOUNDARY, splitRows } from './probe.ts';

/** A model's test-split figures as the paper-protocol results record them. */
export interface TestFigures {
  accuracy: number;
  macroF1: number;
  accuracyCI: [number, number] | null;
  macroF1CI: [number, number] | null;
  perClassF1: Record<string, number>;
}

export function testFigures(m: EvalMetrics): TestFigures {
  return {
    accuracy: m.accuracy,
    macroF1: m.macro.f1,
    accuracyCI: m.bootstrap ? [m.bootstrap.accuracy.low, m.bootstrap.accuracy.high] : null,
    macroF1CI: m.bootstrap ? [m.bootstrap.macroF1.low, m.bootstrap.macroF1.high] : null,
    perClassF1: Object.fromEntries(m.perClass.map((c) => [c.class, c.f1])),
  };
}

export interface ProbeResult extends TestFigures {
  valAccuracy: number;
  chosenIterations: number;
}

let clean: { key: string; feats: Map<string, Float32Array>; dim: number } | undefined;

/**
 * The plain probe of `manifestPath`'s split. Clean pooled features do not depend on the split, so they
 * are extracted once (with `firstManifest`, the key bench/linear-probe uses too, so its cache serves
 * both) and looked up by image path.
 */
export async function sameSplitProbe(
  manifestPath: string,
  seed: number,
  o: { data: string; backbone: string; resize: ResizePolicy; firstManifest: string },
): Promise<ProbeResult> {
  const key = `${o.backbone}|${o.resize}|${o.firstManifest}`;
  if (clean?.key !== key) {
    const first = await readManifest(o.firstManifest);
    const backbone = await loadBackbone(o.backbone);
    const model = buildMobileNetV2({ inputSize: 224, numClasses: first.manifest.classes.length, dropout: 0 });
    applyWeights(model, backbone.weights, backbone.source);
    const f = await getFeatures(
      truncateAt(model, PROBE_BOUNDARY),
      first.manifest,
      {
        version: 1,
        manifestSha256: first.sha256,
        inputSize: 224,
        resize: o.resize,
        floatScaling: backbone.floatScaling,
        augmentSeed: 1,
        views: 1,
        augment: CLEAN_AUGMENT,
        frozenSha256: frozenWeightsHash(model, PROBE_BOUNDARY),
        boundary: PROBE_BOUNDARY,
      },
      { workers: workerCount(), label: `clean features (${o.resize})` },
    );
    clean = { key, feats: byPath(f, first.manifest), dim: f.shape.reduce((a, b) => a * b, 1) };
    model.dispose();
  }
  const { manifest } = await readManifest(manifestPath);
  const { train, val, test } = splitRows(clean.feats, manifest, seed);
  const chosen = byVal(fitProbe(train, val, test, manifest.classes.length, clean.dim, PLAIN, ITERATION_CHOICES, true));
  const m = computeMetrics(test.map((r) => r.y), chosen.testPredictions!, manifest.classes, { bootstrap: 1000, seed: 0 });
  return {
    ...testFigures(m),
    valAccuracy: chosen.val,
    chosenIterations: chosen.iterations,
  };
}

/**
 * Quantizes `runDir` as `plastisort quantize --calib all --method auto --seed <seed>` would and runs the
 * int8 model in LiteRT on the run's test images; the drop is against `floatAccuracy` (the run's own
 * test figure on the same images).
 */
export async function int8TestMetrics(runDir: string, out: string, seed: number, floatAccuracy: number): Promise<Record<string, unknown>> {
  const report = await quantizeRun(runDir, { out, calib: 'all', method: 'auto', seed });
  const config = await readRunConfig(runDir);
  const { manifest } = await readManifest(report.manifest);
  const items = manifest.items.filter((it) => it.split === 'test');
  const images = await loadItems(manifest, items, config.inputSize, config.resize);
  const lite = await loadLiteRtModel(new Uint8Array(readFileSync(out)), out);
  const predicted: number[] = [];
  try {
    for (const img of images) {
      const [o] = await lite.run([Int8Array.from(img, (p) => p - 128)]);
      const v = o as Int8Array;
      let best = 0;
      for (let j = 1; j < v.length; j++) if (v[j]! > v[best]!) best = j;
      predicted.push(best);
    }
  } finally {
    lite.dispose();
  }
  const m = computeMetrics(items.map((it) => it.label), predicted, config.classes, { bootstrap: 0 });
  return {
    method: report.method,
    accuracy: m.accuracy,
    macroF1: m.macro.f1,
    accuracyDropPp: 100 * (floatAccuracy - m.accuracy),
    biasCorrection: report.biasCorrection,
    ...(report.validation ? { valAgreement: report.validation.int8.agreement } : {}),
    runtime: 'LiteRT (@litertjs/core, XNNPACK)',
  };
}
