/**
 * Hardware-in-the-loop accuracy run (`plastisort hil`): streams a manifest split to a board (or to
 * sorter-sim on a pseudo-terminal), journals every result so an interrupted run resumes, then compares
 * the device with desktop int8 (LiteRT) and with the int8 reference simulator in its three arithmetic
 * variants (TFLM double and single rounding, and LiteRT's XNNPACK arithmetic), reports how close each
 * simulator variant is to LiteRT, and for disagreeing images names the first layer where device and
 * simulator differ.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { readTflite } from '../tflite/reader.ts';
import { getPlastisortMetadata } from '../tflite/plastisort-metadata.ts';
import { readManifest } from '../data/manifest-io.ts';
import { manifestItemPath } from '../data/images.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import type { Rounding } from '../link/sim-process.ts';
import type { HilOptions } from './options.ts';
import { Journal } from './journal.ts';
import { ImageSource, streamToDevice } from './stream.ts';
import { checkFloatRun, dumpPass, referencePass } from './references.ts';
import { buildReport, reportMarkdown, type HilReport } from './hil-report.ts';

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function runHil(o: HilOptions): Promise<{ report: HilReport; reportPath: string; complete: boolean }> {
  if (!!o.port === !!o.sim) throw new UserError('give exactly one of --port PATH or --sim');
  if (!Number.isInteger(o.window) || o.window < 1) throw new UserError(`--window ${o.window}: must be a whole number ≥ 1`);
  let modelBytes: Uint8Array;
  try {
    modelBytes = new Uint8Array(await readFile(o.model));
  } catch (e) {
    throw new UserError(`--model ${o.model}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)}); check the path`);
  }
  const modelSha = sha256Hex(modelBytes);
  const meta = getPlastisortMetadata(readTflite(modelBytes, o.model));
  if (!meta) throw new UserError(`${o.model}: no plastisort metadata (labels, input size); create the model with plastisort quantize`);
  const { manifest, sha256: manifestSha } = await readManifest(o.manifest);
  if (manifest.classes.join('\n') !== meta.labels.join('\n')) {
    throw new UserError(`${o.model}: model labels [${meta.labels.join(', ')}] differ from the manifest classes [${manifest.classes.join(', ')}]; use the manifest the model was trained on`);
  }
  const items = manifest.items.filter((it) => it.split === o.split);
  if (!items.length) throw new UserError(`${o.manifest}: split "${o.split}" has no items; choose --split train, val or test`);
  // The float pass comes after the device session: --run is checked now, not after every image was streamed.
  if (o.run) await checkFloatRun(o.run, o.model, modelBytes, meta);
  const size = meta.inputSize;
  const images = new ImageSource(items, (it) => manifestItemPath(manifest, it), size, meta.resize);
  const journalPath = resolve(o.journal ?? resolve(o.out, 'journal.jsonl'));
  const journal = Journal.open(journalPath, {
    modelSha256: modelSha,
    manifestSha256: manifestSha,
    split: o.split,
    model: resolve(o.model),
    manifest: resolve(o.manifest),
    createdAt: new Date().toISOString(),
  });
  const done = journal.results();
  if (done.size) log.info(`hil: resuming from ${journalPath}: ${done.size}/${items.length} results already there`);

  const { complete, lastInfo } = await streamToDevice({ o, items, images, journal, journalPath, modelSha, size });

  // References: LiteRT int8 and the simulator in each arithmetic variant
  if (o.references && complete) {
    await referencePass(o, journal, items, images, modelBytes, manifest.classes);
  }

  const report = buildReport({ o, items, journal, classes: manifest.classes, modelSha, manifestSha, size, lastInfo, complete });
  if (o.dump > 0 && complete) {
    const m = /^(double|single|xnnpack)$|closest: (double|single|xnnpack)/.exec(report.roundingMatched);
    const rounding: Rounding = (m?.[1] ?? m?.[2] ?? (o.sim ? (o.simRounding ?? 'double') : 'double')) as Rounding;
    report.dumps.push(...(await dumpPass(o, journal, items, images, modelSha, rounding)));
  }
  const reportPath = resolve(o.out, 'hil-report.json');
  await writeJsonAtomic(reportPath, report);
  await writeFileAtomic(resolve(o.out, 'hil-report.md'), reportMarkdown(report));
  return { report, reportPath, complete };
}
