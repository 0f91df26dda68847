/**
 * The reference passes of a HIL run: desktop float (a trained run), LiteRT int8 and the simulator in
 * each arithmetic variant, journalled like the device's results; and the layer dumps that name the
 * first layer where device and simulator differ.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { loadLiteRtModel } from '../tflite/litert.ts';
import { loadImageRgb } from '../data/images.ts';
import type { ManifestItem } from '../data/manifest.ts';
import { argmax } from '../shared/metrics.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import { SorterClient, DeviceError } from '../link/client.ts';
import { childTransport } from '../link/port.ts';
import { ROUNDINGS, startStdioSim, stopChild, type Rounding } from '../link/sim-process.ts';
import { checkHilRunFolder, type HilOptions } from './options.ts';
import { realOrResolved } from '../util/out-dir.ts';
import type { PlastisortMetadata } from '../tflite/model.ts';
import { quantizeReportOf, reportPathFor } from '../quantize/quantize-run.ts';
import type { Journal } from './journal.ts';
import { connect, type ImageSource } from './stream.ts';
import { compareDumps, type DumpReport } from './stats.ts';

/**
 * --run, checked before the device session: a run folder over the model's classes. When the model's
 * quantize report (or, without one, its metadata's run id) names another run, a one-line warning: the
 * desktop float figures would then describe another model than the one on the device.
 */
export async function checkFloatRun(run: string, model: string, modelBytes: Uint8Array, meta: PlastisortMetadata): Promise<void> {
  checkHilRunFolder(run);
  const { readRunConfig } = await import('../train/run-folder.ts');
  const config = await readRunConfig(run);
  if (!Array.isArray(config.classes) || config.classes.join('\n') !== meta.labels.join('\n')) {
    throw new UserError(`--run ${run}: its classes [${(config.classes ?? []).join(', ')}] differ from the model's [${meta.labels.join(', ')}]; pass the run the model was quantized from`);
  }
  const report = quantizeReportOf(model, modelBytes);
  const note = 'its desktop float figures describe another model than the one on the device';
  if (report?.run && existsSync(report.run)) {
    if (realOrResolved(report.run) !== realOrResolved(run)) {
      log.warn(`hil: --run ${run} is not the run ${model} was quantized from (${report.run}, per ${basename(reportPathFor(model))}); ${note}`);
    }
    return;
  }
  const sourceId = report?.runId ?? meta.runId;
  if (sourceId !== undefined && sourceId !== config.runId) {
    log.warn(`hil: --run ${run} (run ${config.runId}) is not the run ${model} was quantized from (run ${sourceId}, per its ${report?.runId ? 'quantize report' : 'metadata'}); ${note}`);
  }
}

export async function referencePass(o: HilOptions, journal: Journal, items: ManifestItem[], images: ImageSource, modelBytes: Uint8Array, classes: string[]): Promise<void> {
  if (o.run) {
    const have = journal.refs('float');
    const missing = items.map((_, i) => i).filter((i) => !have.has(i));
    if (missing.length) {
      const { createRunPredictor } = await import('../train/run-folder.ts');
      const predictor = await createRunPredictor(o.run);
      if (predictor.classes.join('\n') !== classes.join('\n')) {
        await predictor.dispose?.();
        throw new UserError(`--run ${o.run}: its classes [${predictor.classes.join(', ')}] differ from the model's [${classes.join(', ')}]; pass the run the model was quantized from`);
      }
      const bar = progressBar('hil desktop float', missing.length);
      try {
        for (let k = 0; k < missing.length; k += 8) {
          const batch = missing.slice(k, k + 8);
          const rgb = await Promise.all(batch.map((i) => loadImageRgb(images.path(i), predictor.inputSize, predictor.resize)));
          const probs = await predictor.predict(rgb);
          batch.forEach((i, b) => journal.append({ kind: 'float', i, scores: Array.from(probs[b]!, (x) => Math.round(x * 1e6) / 1e6) }));
          bar.tick(batch.length);
        }
      } finally {
        bar.stop();
        await predictor.dispose?.();
      }
    }
  }
  const lite = journal.refs('litert');
  const missingLite = items.map((_, i) => i).filter((i) => !lite.has(i));
  if (missingLite.length) {
    const model = await loadLiteRtModel(modelBytes, o.model);
    const bar = progressBar('hil LiteRT int8', missingLite.length);
    try {
      for (const i of missingLite) {
        const [out] = await model.run([await images.get(i)]);
        journal.append({ kind: 'litert', i, scores: Array.from(out as Int8Array) });
        bar.tick();
      }
    } finally {
      bar.stop();
      model.dispose();
      for (const i of missingLite) images.forget(i);
    }
  }
  for (const r of ROUNDINGS) {
    const have = journal.refs(`sim-${r}`);
    const missing = items.map((_, i) => i).filter((i) => !have.has(i));
    if (!missing.length) continue;
    const child = startStdioSim({ model: resolve(o.model), rounding: r });
    const client = new SorterClient(childTransport(child, `sorter-sim --stdio (${r})`), { timeoutMs: 60_000, retries: 0 });
    const bar = progressBar(`hil simulator (${r})`, missing.length);
    try {
      await client.handshake();
      let k = 0;
      const inflight: Promise<void>[] = [];
      // The simulator buffers two requests: keep it busy while the next image decodes.
      for (const i of missing) {
        inflight.push(
          (async () => {
            const res = await client.infer(await images.get(i));
            journal.append({ kind: `sim-${r}`, i, scores: Array.from(res.scores) });
            images.forget(i);
            bar.tick();
          })(),
        );
        if (++k % 2 === 0) await Promise.all(inflight.splice(0));
      }
      await Promise.all(inflight);
    } finally {
      bar.stop();
      await client.close().catch(() => {});
      await stopChild(child);
    }
  }
}

export async function dumpPass(o: HilOptions, journal: Journal, items: ManifestItem[], images: ImageSource, modelSha: string, deviceRounding: Rounding): Promise<DumpReport[]> {
  const results = journal.results();
  const lite = journal.refs('litert');
  const sameScores = (a?: number[], b?: number[]) => !!a && !!b && a.length === b.length && a.every((x, k) => x === b[k]);
  // Disagreement with the simulator in the rounding the device matched says most about a kernel; a
  // top-1 disagreement with LiteRT is next.
  const simFor = journal.refs(`sim-${deviceRounding}`);
  const picks: { i: number; reason: string }[] = [];
  for (let i = 0; i < items.length && picks.length < o.dump; i++) {
    const r = results.get(i)!;
    if (simFor.size && !sameScores(r.scores, simFor.get(i)?.scores)) picks.push({ i, reason: `scores differ from the simulator (${deviceRounding} rounding)` });
    else if (lite.size && lite.get(i) && argmax(lite.get(i)!.scores) !== r.classIndex) picks.push({ i, reason: 'top-1 differs from LiteRT int8' });
  }
  if (!picks.length) {
    // Nothing disagrees: dump the first image anyway, which checks every intermediate tensor.
    log.info('hil: --dump: no disagreeing image; dumping the first image as a check of every layer');
    picks.push({ i: 0, reason: 'no image disagrees; first image dumped as a check' });
  }
  const modelSha256 = modelSha;
  const out: DumpReport[] = [];
  const conn = await connect({ ...o, baud: o.baud }, modelSha256);
  const child = startStdioSim({ model: resolve(o.model), rounding: deviceRounding });
  const simClient = new SorterClient(childTransport(child, `sorter-sim --stdio (${deviceRounding})`), { timeoutMs: 120_000, retries: 0 });
  try {
    await simClient.handshake(modelSha256);
    for (const { i, reason } of picks) {
      const tensor = await images.get(i);
      log.info(`hil: dumping every tensor of ${items[i]!.path} from the device and the simulator`);
      const dev = await conn.client.dump(tensor);
      const sim = await simClient.dump(tensor);
      const layers = compareDumps(dev.tensors, sim.tensors);
      out.push({
        item: items[i]!.path,
        reason,
        simulatorRounding: deviceRounding,
        tensors: dev.tensors.length,
        firstDifferingLayer: layers.find((l) => l.differing > 0) ?? null,
        layers,
      });
    }
  } catch (e) {
    if (e instanceof DeviceError) throw new UserError(`--dump: ${e.message}`);
    throw e;
  } finally {
    await simClient.close().catch(() => {});
    await stopChild(child);
    await conn.close().catch(() => {});
  }
  return out;
}
