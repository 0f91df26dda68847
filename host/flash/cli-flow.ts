import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar, type Progress } from '../util/progress.ts';
import { appImageElfSha256 } from './app-image.ts';
import { readBundle, readBundleModel, requireModelOpsInBundle } from './bundle.ts';
import { flashBoard, imagesToWrite, padToWord, type FlashResult } from './flash.ts';
import { loadFlashPlan, type FlashImage, type FlashPlan } from './images.ts';
import { openSerialLink, type ByteLink } from '../link/port.ts';
import { readModelForDevice, requireModelOpsInBuild, type DeviceModel } from './model-file.ts';
import type { BindingInterface } from '@serialport/bindings-interface';
import { choosePort, findPort, listSerialPorts, resetStrategyFor } from './ports.ts';
import { RESET_STRATEGIES, type ResetStrategy } from './rom-loader.ts';
import { describeFlashedIdentity, verifyFlashedBoard, type FlashedIdentity } from './verify.ts';

export interface FlashCommandOptions {
  port?: string;
  baud: number;
  bundle?: string;
  build: string;
  /** A .tflite to write into the model partition; false (--no-model) leaves a bundle's model out. */
  model?: string | false;
  modelOnly: boolean;
  reset?: string;
  /** Send compressed blocks (default true). */
  compress?: boolean;
  /** Ask the app for its firmware version and model hash after the reset (default true). */
  verify?: boolean;
  appBaud?: number;
}

export interface FlashCommandResult extends FlashResult {
  identity?: FlashedIdentity;
}

/** What a flash writes, checked before any port is opened. */
export interface PreparedFlash {
  plan: FlashPlan;
  model?: DeviceModel;
  images: FlashImage[];
  reset?: ResetStrategy;
}

export function parseResetStrategy(text: string | undefined): ResetStrategy | undefined {
  if (text === undefined) return undefined;
  if (!(RESET_STRATEGIES as readonly string[]).includes(text)) {
    throw new UserError(`--reset ${text}: unknown reset style; use one of ${RESET_STRATEGIES.join(', ')}`);
  }
  return text as ResetStrategy;
}

/**
 * Resolves and checks the images, the model and the reset style; touches no board. A bundle made with
 * `plastisort bundle --model` writes its model too, as esptool with its flash_args does, unless --model
 * names another one or --no-model leaves the model partition as it is.
 */
export async function prepareFlash(opts: FlashCommandOptions): Promise<PreparedFlash> {
  const reset = parseResetStrategy(opts.reset);
  if (opts.model === false && opts.modelOnly) {
    throw new UserError('--no-model with --model-only would write nothing; drop one of them');
  }
  // The model first: one the firmware cannot run is refused whatever the images are.
  let model = opts.model ? await readModelForDevice(opts.model) : undefined;
  const bundle = opts.bundle ? await readBundle(opts.bundle) : undefined;
  const flasherArgs = bundle ? bundle.flasherArgs : join(opts.build, 'flasher_args.json');
  if (!bundle && !existsSync(flasherArgs)) {
    throw new UserError(
      `no firmware build at ${opts.build} (flasher_args.json missing): install ESP-IDF and run npm run flash, or build with idf.py in firmware/, or pass --bundle DIR`,
    );
  }
  const plan = await loadFlashPlan(flasherArgs);
  if (bundle && opts.model === undefined) {
    model = await readBundleModel(opts.bundle!, bundle.manifest, plan);
    if (model) log.info(`writing the bundle's model ${model.source} into the model partition too (--no-model leaves the partition as it is)`);
    else if (opts.modelOnly) throw new UserError(`--model-only: the bundle ${opts.bundle} holds no model; pass --model FILE.tflite`);
  }
  // The app written (or, with --model-only, left) on the board has the build's (or bundle's) op resolver.
  if (model && !bundle) requireModelOpsInBuild(model, opts.build, plan);
  // The bundle's own model was checked when the bundle was made; one that cannot be checked is only news for --model.
  if (model && bundle) requireModelOpsInBundle(model, opts.bundle!, bundle.manifest, plan, opts.model ? undefined : () => {});
  // Checks sizes before a board is touched.
  const images = imagesToWrite(plan, model, opts.modelOnly);
  return { plan, model, images, reset };
}

/** Flashes over an open link with a progress bar, then asks the app who it is. */
export async function flashOverLink(
  prepared: PreparedFlash,
  link: ByteLink,
  reset: ResetStrategy,
  opts: FlashCommandOptions,
): Promise<FlashCommandResult> {
  const { plan, model, images } = prepared;
  const total = images.reduce((s, i) => s + padToWord(i.data).length, 0);
  let bar: Progress | undefined;
  let done = 0;
  let lastRole = '';
  let lastWritten = 0;
  try {
    bar = progressBar('flash', total, 'B');
    const result: FlashCommandResult = await flashBoard({
      plan,
      link,
      baud: opts.baud,
      resetStrategy: reset,
      model,
      modelOnly: opts.modelOnly,
      compress: opts.compress,
      log: log.info,
      onProgress: (role, written) => {
        if (role !== lastRole) {
          lastRole = role;
          lastWritten = 0;
        }
        done += written - lastWritten;
        bar?.tick(written - lastWritten);
        lastWritten = written;
      },
    });
    bar.stop();
    bar = undefined;
    if (opts.verify !== false) {
      const app = images.find((i) => i.role === 'app');
      result.identity = await verifyFlashedBoard(link, opts.appBaud ?? 115200, {
        model: model?.data,
        appElfSha256: app ? appImageElfSha256(app.data) : undefined,
        app: app?.data,
      });
      log.info(describeFlashedIdentity(result.identity));
    }
    return result;
  } finally {
    bar?.stop();
    if (done < total) log.info(`flashed ${done} of ${total} bytes`);
  }
}

/**
 * `plastisort flash`: checks the images, finds the port and its reset style, flashes and verifies.
 * Without --reset the style follows the port's USB id, whether the port was found or named with --port
 * (usb-jtag for the S3's own USB-Serial-JTAG, 303A:1001; else classic, also for a port the list lacks,
 * such as a pty). `binding` replaces the native serial binding (tests: the emulated board's).
 */
export async function runFlashCommand(opts: FlashCommandOptions, io: { binding?: BindingInterface } = {}): Promise<FlashCommandResult> {
  const prepared = await prepareFlash(opts);
  let portPath = opts.port;
  let reset: ResetStrategy;
  if (!portPath) {
    const chosen = choosePort(await listSerialPorts(io.binding));
    portPath = chosen.path;
    reset = prepared.reset ?? resetStrategyFor(chosen);
    log.info(`using ${portPath} (USB ${chosen.vendorId ?? '?'}:${chosen.productId ?? '?'})`);
  } else if (prepared.reset) {
    reset = prepared.reset;
  } else {
    const listed = findPort(portPath, await listSerialPorts(io.binding));
    reset = listed ? resetStrategyFor(listed) : 'classic';
    log.info(
      listed
        ? `--port ${portPath}: USB ${listed.vendorId ?? '?'}:${listed.productId ?? '?'}, reset style ${reset}`
        : `--port ${portPath}: not among the USB serial ports, reset style ${reset} (set --reset to choose)`,
    );
  }
  const link = await openSerialLink(portPath, 115200, io.binding);
  try {
    return await flashOverLink(prepared, link, reset, opts);
  } finally {
    await link.close();
  }
}
