/**
 * How to calibrate and how to choose the calibration method, judged beyond the validation split: for each
 * seed's fine-tuned run of bench/paper-protocol (`.cache/bench/paper-protocol/finetuned-<resize>-seed<N>`),
 * quantize with CALIBS calibration images (a number, or `all` for the whole training split) and every
 * method, run each candidate in LiteRT on the validation and test images, and record per candidate its
 * top-1 agreement with float, the mean L1 distance between the float and the int8 class probabilities,
 * and the test accuracy change. Then applies selection rules to the validation figures only and reports
 * the test change each rule would have shipped.
 *
 *   SEEDS=1,2,3,4,5 CALIBS=300,all npm run bench -- int8-calibration   # → bench/results/int8-calibration.json
 *
 * Run bench/paper-protocol first (it leaves the run folders); seeds without a run folder are skipped.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readManifest } from '../host/data/manifest-io.ts';
import { loadTflitePredictor } from '../host/eval/tflite-predictor.ts';
import { argmax } from '../host/shared/metrics.ts';
import { scoreAgainstFloat, withClasses } from '../host/quantize/evaluate-int8.ts';
import { quantizeModel, type CalibrationMethod } from '../host/quantize/quantize-model.ts';
import { loadItems, runManifestPath, selectCalibrationItems, quantizeConfigFor } from '../host/quantize/quantize-run.ts';
import { initBackend } from '../host/train/backend.ts';
import { createRunPredictor, loadRun } from '../host/train/run-folder.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.cache/bench/paper-protocol');
const outFile = process.env.OUT_FILE ? resolve(process.env.OUT_FILE) : join(root, 'bench/results/int8-calibration.json');
const seeds = (process.env.SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const calibs = (process.env.CALIBS ?? '300,all').split(',');
const resize = process.env.RESIZE ?? 'center-crop';

interface Candidate {
  seed: number;
  calib: number;
  method: CalibrationMethod;
  valAgreement: number;
  valAccuracy: number;
  valMeanL1: number;
  testAgreement: number;
  testAccuracy: number;
  /** float − int8 test accuracy, percentage points. */
  testDropPp: number;
}

/** The scores quantizeModel's `auto` rule sees, here on any split. */
function compare(floatP: Float32Array[], int8P: Float32Array[], labels: number[]) {
  return scoreAgainstFloat(withClasses(int8P), withClasses(floatP), labels);
}

await initBackend();
const candidates: Candidate[] = [];
const floatTest: Record<number, number> = {};
const tmp = mkdtempSync(join(tmpdir(), 'plastisort-int8-calib-'));
try {
  for (const seed of seeds) {
    const runDir = join(work, `finetuned-${resize}-seed${seed}`);
    if (!existsSync(join(runDir, 'config.json'))) {
      console.warn(`int8-calibration: seed ${seed} skipped — no run at ${runDir}; run bench/paper-protocol first`);
      continue;
    }
    const { config, model } = await loadRun(runDir);
    const { manifest, sha256 } = await readManifest(runManifestPath(config, runDir));
    const valItems = manifest.items.filter((it) => it.split === 'val');
    const testItems = manifest.items.filter((it) => it.split === 'test');
    const val = await loadItems(manifest, valItems, config.inputSize, config.resize);
    const test = await loadItems(manifest, testItems, config.inputSize, config.resize);
    const predictor = await createRunPredictor(runDir);
    const floatVal = await predictor.predict(val);
    const floatTestP = await predictor.predict(test);
    predictor.dispose?.();
    const testLabels = testItems.map((it) => it.label);
    const floatTestAcc = floatTestP.filter((p, i) => argmax(p) === testLabels[i]).length / test.length;
    floatTest[seed] = floatTestAcc;
    for (const c of calibs) {
      const n = c === 'all' ? Infinity : Number(c);
      const calibration = await loadItems(manifest, selectCalibrationItems(manifest, n, seed), config.inputSize, config.resize);
      const t0 = performance.now();
      const result = await quantizeModel(
        model,
        quantizeConfigFor(config, sha256),
        calibration,
        { method: 'auto', validation: { images: val, labels: valItems.map((it) => it.label) }, keepCandidates: true, measureInputOffset: false, seed },
      );
      console.log(`seed ${seed}, ${calibration.length} calibration images: quantized in ${((performance.now() - t0) / 1000).toFixed(0)} s, auto chose ${result.report.method}`);
      for (const [method, bytes] of Object.entries(result.candidateFiles!) as [CalibrationMethod, Uint8Array][]) {
        const path = join(tmp, `seed${seed}-${calibration.length}-${method}.tflite`);
        writeFileSync(path, bytes);
        const lite = await loadTflitePredictor(path);
        const v = compare(floatVal, await lite.predict(val), valItems.map((it) => it.label));
        const t = compare(floatTestP, await lite.predict(test), testLabels);
        lite.dispose();
        const cand: Candidate = {
          seed,
          calib: calibration.length,
          method,
          valAgreement: v.agreement,
          valAccuracy: v.accuracy,
          valMeanL1: v.meanL1,
          testAgreement: t.agreement,
          testAccuracy: t.accuracy,
          testDropPp: 100 * (floatTestAcc - t.accuracy),
        };
        candidates.push(cand);
        console.log(
          `  ${method}: val agreement ${(100 * v.agreement).toFixed(1)}% L1 ${v.meanL1.toFixed(4)} | test agreement ${(100 * t.agreement).toFixed(1)}% drop ${cand.testDropPp.toFixed(2)} pp`,
        );
      }
    }
    model.dispose();
    await writeResults();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
await writeResults();

/** Selection rules see only validation figures; each returns the candidate it would ship. */
function rules(): Record<string, (cs: Candidate[]) => Candidate> {
  const by = (key: (c: Candidate) => number[]) => (cs: Candidate[]) =>
    cs.reduce((best, c) => {
      const a = key(c);
      const b = key(best);
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]! ? c : best;
      return best;
    });
  return {
    'agreement, then accuracy (shipped today)': by((c) => [c.valAgreement, c.valAccuracy]),
    'agreement, then smaller L1': by((c) => [c.valAgreement, -c.valMeanL1]),
    'smallest L1': by((c) => [-c.valMeanL1]),
  };
}

async function writeResults(): Promise<void> {
  // No seed had a run: keep the committed figures rather than replace them by an empty file.
  if (candidates.length === 0) {
    console.warn(`int8-calibration: no seed had a paper-protocol run; ${outFile} left as it was (run npm run bench -- paper-protocol first)`);
    return;
  }
  const groups = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const k = `${c.seed}|${c.calib >= 1000 ? 'all' : c.calib}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const selections = Object.entries(rules()).flatMap(([rule, pick]) =>
    calibs.map((calib) => {
      const chosen = seeds.flatMap((s) => {
        const g = groups.get(`${s}|${calib}`);
        return g ? [pick(g)] : [];
      });
      return {
        rule,
        calib,
        perSeed: chosen.map((c) => ({ seed: c.seed, method: c.method, testDropPp: c.testDropPp, testAgreement: c.testAgreement })),
        worstAbsDropPp: Math.max(...chosen.map((c) => Math.abs(c.testDropPp))),
        meanTestAgreement: chosen.reduce((a, c) => a + c.testAgreement, 0) / Math.max(1, chosen.length),
      };
    }),
  );
  await writeJsonAtomic(outFile, {
    benchmark: 'int8-calibration',
    note: 'per candidate: float vs int8 (LiteRT) on val and test; selections apply validation-only rules and show the test change they ship. 1 test image = 0.47 pp.',
    command: `SEEDS=${seeds.join(',')} CALIBS=${calibs.join(',')} npm run bench -- int8-calibration`,
    floatTestAccuracy: floatTest,
    selections,
    candidates,
  });
}
