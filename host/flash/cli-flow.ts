import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar, type Progress } from '../util/progress.ts';
import { verifyBundle } from './bundle.ts';
import { flashBoard, imagesToWrite, type FlashResult } from './flash.ts';
import { loadFlashPlan } from './images.ts';
import { openSerialLink } from './link.ts';
import { choosePort, listSerialPorts, resetStrategyFor } from './ports.ts';
import type { ResetStrategy } from './rom-loader.ts';
import type { BindingInterface } from '@serialport/bindings-interface';
import { appImageElfSha256 } from './app-image.ts';
import { verifyFlashedBoard, type FlashedIdentity } from './verify.ts';

export interface FlashCommandOptions {
  port?: string;
  baud: number;
  bundle?: string;
  build: string;
  model?: string;
  modelOnly: boolean;
  reset?: ResetStrategy;
  /** Ask the app for its firmware version and model hash after the reset (default true). */
  verify?: boolean;
  appBaud?: number;
}

export interface FlashCommandResult extends FlashResult {
  identity?: FlashedIdentity;
}

/** Resolves the images, the port and the reset style, then flashes with a progress bar. */
export async function runFlashCommand(opts: FlashCommandOptions, binding?: BindingInterface): Promise<FlashCommandResult> {
  const flasherArgs = opts.bundle ? await verifyBundle(opts.bundle) : join(opts.build, 'flasher_args.json');
  if (!opts.bundle && !existsSync(flasherArgs)) {
    throw new UserError(
      `no firmware build at ${opts.build} (flasher_args.json missing): install ESP-IDF and run npm run flash, or build with idf.py in firmware/, or pass --bundle DIR`,
    );
  }
  const plan = await loadFlashPlan(flasherArgs);
  let model: { data: Uint8Array; source: string } | undefined;
  if (opts.model) {
    if (!existsSync(opts.model)) throw new UserError(`${opts.model}: no such model file`);
    model = { data: new Uint8Array(await readFile(opts.model)), source: opts.model };
  }
  // Checks sizes before a board is touched.
  const images = imagesToWrite(plan, model, opts.modelOnly);
  const total = images.reduce((s, i) => s + i.data.length, 0);

  let portPath = opts.port;
  let reset: ResetStrategy = opts.reset ?? 'classic';
  if (!portPath && binding) portPath = (await binding.list())[0]?.path;
  if (!portPath) {
    const chosen = choosePort(await listSerialPorts());
    portPath = chosen.path;
    reset = opts.reset ?? resetStrategyFor(chosen);
    log.info(`using ${portPath} (USB ${chosen.vendorId ?? '?'}:${chosen.productId ?? '?'})`);
  }
  const link = await openSerialLink(portPath, 115200, binding);
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
      });
      log.info(`the board answers: firmware ${result.identity.firmwareVersion}, model ${result.identity.modelSha256.slice(0, 16)}…`);
    }
    return result;
  } finally {
    bar?.stop();
    await link.close();
    if (done < total) log.info(`flashed ${done} of ${total} bytes`);
  }
}
