import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeDirAtomic, stableJson } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { sha256Hex } from '../util/hash.ts';
import { BUNDLE_OUTPUT } from './bundle-output.ts';
import { modelPartitionImage } from './flash.ts';
import { loadFlashPlan, type FlashPlan } from './images.ts';
import { firmwareResolver, readModelForDevice, requireModelOps, requireModelOpsInBuild, type DeviceModel } from './model-file.ts';
import { appCarriesModel } from './app-image.ts';


/** The model partition image (64-byte header + model) as the bundle stores it for esptool. */
export const BUNDLE_MODEL_IMAGE = 'model-partition.bin';

/**
 * esptool's argument file, as ESP-IDF writes build/flash_args: the flash settings on the first line,
 * then one `offset file` line per image, so `esptool.py --chip esp32s3 write_flash @flash_args` run in
 * the bundle folder writes everything.
 */
export function esptoolFlashArgs(plan: FlashPlan, extra: { offset: number; file: string }[] = []): string {
  const { flash_mode, flash_freq, flash_size } = plan.flashSettings;
  const lines = [`--flash_mode ${flash_mode} --flash_freq ${flash_freq} --flash_size ${flash_size}`];
  for (const img of [...plan.images, ...extra]) lines.push(`0x${img.offset.toString(16)} ${img.file}`);
  return lines.join('\n') + '\n';
}

/** ESP-IDF's image list in a bundle: which image goes to which flash offset. */
export const BUNDLE_FLASHER_ARGS = 'flasher_args.json';

/** The technician's instructions in a bundle. */
export const BUNDLE_README = 'README.txt';

const ROLE_TEXT: Record<string, string> = {
  bootloader: 'second-stage bootloader',
  'partition-table': 'partition table',
  app: 'the sorter firmware (app)',
  model: 'the model (.tflite), for reading; written as model-partition.bin',
  'model-partition': 'model partition image (64-byte header + model.tflite)',
  'esptool-args': "esptool's arguments: flash settings, then offset and file of each image",
  'flasher-args': "ESP-IDF's list of the images and their offsets, read by plastisort flash",
  readme: 'this file',
};

/**
 * README.txt of a bundle: what each file is and the two ways to flash it. Made only from the manifest
 * and flash_args (no date, no absolute path), so the same build and model give the same bytes.
 */
export function bundleReadme(manifest: BundleManifest, flashArgs: string): string {
  const rows: [string, string][] = [
    ...manifest.files.map((f): [string, string] => [
      f.path,
      `${ROLE_TEXT[f.role] ?? 'image'}${f.offset === undefined ? '' : `, at 0x${f.offset.toString(16)}`}`,
    ]),
    [BUNDLE_README, ROLE_TEXT.readme!],
    ['manifest.json', 'the SHA-256 of each file above, checked by plastisort flash before it writes'],
    // Bundles made before flasher_args.json was listed in the manifest.
    ...(manifest.files.some((f) => f.path === BUNDLE_FLASHER_ARGS) ? [] : [[BUNDLE_FLASHER_ARGS, ROLE_TEXT['flasher-args']!] as [string, string]]),
  ];
  const width = Math.max(...rows.map(([p]) => p.length));
  const hasModel = manifest.files.some((f) => f.role === 'model-partition');
  const esptoolArgs = flashArgs.trim().split('\n').join(' ');
  const { flash_size, flash_mode, flash_freq } = manifest.flashSettings;
  return [
    `plastisort bundle: firmware${hasModel ? ' and model' : ''} for an ESP32-S3 bin (${flash_size} flash, ${flash_mode}, ${flash_freq})`,
    '',
    'Files',
    ...rows.map(([p, what]) => `  ${p.padEnd(width)}  ${what}`),
    '',
    'To flash a bin, plug it in over USB and run, where DIR is this folder:',
    '',
    '  plastisort flash --bundle DIR [--port PORT]',
    '',
    `It checks each file against manifest.json, writes ${hasModel ? 'the firmware and the model' : 'the firmware'}, verifies each region by MD5`,
    'and asks the board which firmware and model it runs. Without --port it finds the board by USB id;',
    `name the port when several are plugged in.${hasModel ? ' --no-model writes the firmware only.' : ''}`,
    '',
    'Without plastisort, esptool.py (ESP-IDF, or pip install esptool) writes the same, run in this folder:',
    '',
    '  esptool.py --chip esp32s3 write_flash @flash_args',
    '',
    'which is:',
    '',
    `  esptool.py --chip esp32s3 write_flash ${esptoolArgs}`,
    '',
    'esptool.py does not check manifest.json, nor which firmware the board runs afterwards.',
    '',
  ].join('\n');
}

export interface BundleManifest {
  schema: 'plastisort.bundle/1';
  chip: string;
  flashSettings: { flash_mode: string; flash_size: string; flash_freq: string };
  files: { path: string; role: string; offset?: number; bytes: number; sha256: string }[];
  /**
   * The op resolver the bundle's app was built with (its op_resolver.h, matched to the app by the
   * built-in model's SHA-256), so `flash --bundle --model` can refuse a model the app cannot run. Absent
   * when the build's resolver could not be known, and in bundles made before it was recorded.
   */
  opResolver?: { modelSha256: string; ops: string[] };
}

/**
 * Packs what a technician needs into one folder: the app images with their flasher_args.json, the
 * model, the model partition image, esptool's flash_args, and a manifest of SHA-256s that
 * `plastisort flash --bundle` checks before writing. The model is read and checked in full first.
 */
export async function createBundle(flasherArgsPath: string, outDir: string, modelPath?: string): Promise<BundleManifest> {
  // The model first: one the firmware cannot run is refused whatever the build is.
  const model = modelPath ? await readModelForDevice(modelPath) : undefined;
  const plan = await loadFlashPlan(flasherArgsPath);
  if (model) requireModelOpsInBuild(model, dirname(flasherArgsPath), plan);
  const srcDir = dirname(flasherArgsPath);
  const fw = firmwareResolver(srcDir, plan);
  const manifest: BundleManifest = {
    schema: 'plastisort.bundle/1',
    chip: plan.chip,
    flashSettings: plan.flashSettings,
    files: [],
    ...(fw ? { opResolver: { modelSha256: fw.modelSha256, ops: fw.ops } } : {}),
  };
  await writeDirAtomic(outDir, async (tmp) => {
    // The offsets plastisort writes at come from flasher_args.json: covered by the manifest like every image.
    const flasherArgs = await readFile(flasherArgsPath);
    await writeFile(join(tmp, BUNDLE_FLASHER_ARGS), flasherArgs);
    manifest.files.push({ path: BUNDLE_FLASHER_ARGS, role: 'flasher-args', bytes: flasherArgs.length, sha256: sha256Hex(flasherArgs) });
    for (const img of plan.images) {
      await mkdir(dirname(join(tmp, img.file)), { recursive: true });
      await copyFile(join(srcDir, img.file), join(tmp, img.file));
      manifest.files.push({ path: img.file, role: img.role, offset: img.offset, bytes: img.data.length, sha256: img.sha256 });
    }
    const extra: { offset: number; file: string }[] = [];
    if (model) {
      await writeFile(join(tmp, 'model.tflite'), model.data);
      manifest.files.push({ path: 'model.tflite', role: 'model', bytes: model.data.length, sha256: sha256Hex(model.data) });
      const image = modelPartitionImage(plan, model);
      await writeFile(join(tmp, BUNDLE_MODEL_IMAGE), image.data);
      manifest.files.push({ path: BUNDLE_MODEL_IMAGE, role: 'model-partition', offset: image.offset, bytes: image.data.length, sha256: image.sha256 });
      extra.push({ offset: image.offset, file: BUNDLE_MODEL_IMAGE });
    }
    const flashArgs = esptoolFlashArgs(plan, extra);
    await writeFile(join(tmp, 'flash_args'), flashArgs);
    manifest.files.push({ path: 'flash_args', role: 'esptool-args', bytes: Buffer.byteLength(flashArgs), sha256: sha256Hex(flashArgs) });
    const readme = bundleReadme(manifest, flashArgs);
    await writeFile(join(tmp, BUNDLE_README), readme);
    manifest.files.push({ path: BUNDLE_README, role: 'readme', bytes: Buffer.byteLength(readme), sha256: sha256Hex(readme) });
    await writeFile(join(tmp, 'manifest.json'), stableJson(manifest));
  }, BUNDLE_OUTPUT);
  return manifest;
}

/** Checks a bundle's files against its manifest; returns the path of its flasher_args.json. */
export async function verifyBundle(dir: string): Promise<string> {
  return (await readBundle(dir)).flasherArgs;
}

/**
 * A bundle whose files match its manifest: its flasher_args.json and the manifest. A bundle made before
 * the manifest listed flasher_args.json is read with a warning (`warn`, default a warning line) that its
 * flash offsets cannot be checked.
 */
export async function readBundle(dir: string, warn?: (line: string) => void): Promise<{ flasherArgs: string; manifest: BundleManifest }> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as BundleManifest;
  } catch {
    throw new UserError(`${manifestPath} is missing or not JSON; make the bundle with plastisort bundle`);
  }
  const flasherArgs = join(dir, BUNDLE_FLASHER_ARGS);
  if (!existsSync(flasherArgs)) {
    throw new UserError(`${flasherArgs} is missing from the bundle; copy the whole bundle folder, or make it again with plastisort bundle`);
  }
  // flasher_args.json decides where each image goes; a bundle that does not list it cannot have its offsets checked.
  const argsEntry = manifest.files.find((f) => f.path === BUNDLE_FLASHER_ARGS);
  if (!argsEntry) {
    (warn ?? log.warn)(
      `${manifestPath} records no SHA-256 for ${BUNDLE_FLASHER_ARGS} (a bundle made before plastisort recorded it), so the flash offsets it gives cannot be checked; make the bundle again with plastisort bundle to record it`,
    );
  } else if (sha256Hex(await readFile(flasherArgs)) !== argsEntry.sha256) {
    throw new UserError(
      `${flasherArgs} was changed after the bundle was made (its SHA-256 is not the one ${manifestPath} records), so the flash offsets it gives cannot be trusted; re-copy the bundle`,
    );
  }
  for (const f of manifest.files) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, f.path));
    } catch {
      throw new UserError(`${join(dir, f.path)} is listed in the bundle manifest but missing; copy the whole bundle folder`);
    }
    const sha = sha256Hex(data);
    if (sha !== f.sha256) throw new UserError(`${join(dir, f.path)} does not match the bundle manifest (SHA-256 differs); the bundle is damaged`);
  }
  return { flasherArgs, manifest };
}

/**
 * The model a bundle carries (made with `plastisort bundle --model`), checked as `flash --model` checks
 * one, or undefined for a bundle without a model. Its partition image must be the bundle's
 * model-partition.bin at the offset flash_args gives esptool, so both flash the same bytes.
 */
export async function readBundleModel(dir: string, manifest: BundleManifest, plan: FlashPlan): Promise<DeviceModel | undefined> {
  const entry = manifest.files.find((f) => f.role === 'model');
  const imageEntry = manifest.files.find((f) => f.role === 'model-partition');
  if (!entry && !imageEntry) return undefined;
  if (!entry || !imageEntry) {
    throw new UserError(
      `${join(dir, 'manifest.json')} lists ${entry ? entry.path : imageEntry!.path} without the model's ${entry ? BUNDLE_MODEL_IMAGE : 'model.tflite'}; make the bundle again with plastisort bundle --model, or pass --no-model to write the firmware only`,
    );
  }
  const model = await readModelForDevice(join(dir, entry.path));
  const image = modelPartitionImage(plan, model);
  if (image.sha256 !== imageEntry.sha256 || image.offset !== imageEntry.offset) {
    throw new UserError(
      `${join(dir, imageEntry.path)} is not the partition image of ${join(dir, entry.path)} at 0x${image.offset.toString(16)}, so esptool and plastisort would write different models; make the bundle again with plastisort bundle --model`,
    );
  }
  return model;
}

/**
 * Refuses a model with an op the bundle's app does not register (as `flash --build` does with the build's
 * op_resolver.h), from the op list the manifest records. A bundle without that list cannot be checked:
 * `warn` says why (default: a warning line), and the model is written unchecked.
 */
export function requireModelOpsInBundle(model: DeviceModel, dir: string, manifest: BundleManifest, plan: FlashPlan, warn?: (line: string) => void): void {
  const rec = manifest.opResolver;
  const app = plan.images.find((i) => i.role === 'app');
  const why = !rec
    ? `${join(dir, 'manifest.json')} records no op resolver for its firmware (a bundle made before plastisort recorded it, or from a build whose op_resolver.h was not found or not the app's)`
    : !app || !appCarriesModel(app.data, rec.modelSha256)
      ? `the op resolver ${join(dir, 'manifest.json')} records is not its app's (the app does not hold its model SHA-256 ${rec.modelSha256.slice(0, 16)}…)`
      : undefined;
  if (why) {
    (warn ?? log.warn)(`${why}; the ops of ${model.source} are not checked against the bundle's firmware (make the bundle again with plastisort bundle to record them)`);
    return;
  }
  requireModelOps(
    model,
    rec!.ops,
    `the firmware in bundle ${dir} lacks (its op resolver has ${rec!.ops.join(' ')}, for its built-in model)`,
    'choose a model with those ops, or rebuild the firmware for this model (put it at models/default.tflite, run npm run headers, rebuild) and make the bundle again',
  );
}
