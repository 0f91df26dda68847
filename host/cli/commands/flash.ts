import type { Command } from 'commander';
import { createBundle } from '../../flash/bundle.ts';
import { runFlashCommand } from '../../flash/cli-flow.ts';
import { action, parseIntOption } from '../run.ts';
import { BUNDLE_OUTPUT } from '../../flash/bundle-output.ts';
import { guardOutDir } from '../../util/out-dir.ts';
import { UserError } from '../../util/errors.ts';

export function register(program: Command): void {
  let modelGiven: string | undefined;
  let noModelGiven = false;
  program
    .command('flash')
    .summary('write firmware and/or model to a bin over USB')
    .description(
      'write the firmware (bootloader, partition table, app) and optionally the model to an ESP32-S3 bin over USB, verifying each region by MD5',
    )
    .option('--port <path>', 'serial port (default: the one Espressif USB device, or the one USB-serial bridge)')
    .option('--baud <n>', 'transfer rate after sync at 115200', parseIntOption('--baud'), 460800)
    .option('--build <dir>', 'ESP-IDF build folder holding flasher_args.json', 'firmware/build')
    .option('--bundle <dir>', 'release bundle made by `plastisort bundle` (instead of --build)')
    .option('--model <file.tflite>', 'also write this model into the `model` partition (with --bundle: instead of the bundle\'s model)')
    .option('--no-model', 'with --bundle: leave the bundle\'s model out (write the firmware only; the model partition stays as it is)')
    .option('--model-only', 'write only the model partition (--model, or the bundle\'s model); the app stays as it is', false)
    .option('--reset <style>', 'reset into the bootloader: classic (DTR/RTS bridge), usb-jtag (the S3\'s own USB port), or none (board already in download mode, e.g. a pty) (default: from the USB id of the port, found or given with --port: usb-jtag for 303A:1001, else classic; classic for a port not listed as USB, e.g. a pty)')
    .option('--no-compress', 'send the images uncompressed (FLASH_DATA) instead of zlib blocks the ROM inflates')
    .option('--app-baud <n>', 'baud rate of the app protocol for the post-flash check', parseIntOption('--app-baud'), 115200)
    .option('--no-verify', 'skip asking the app for its firmware version and model hash after the reset')
    // --model and --no-model share commander's `model` key, where the last one would silently win: note each as it is parsed.
    .on('option:model', (file: string) => (modelGiven = file))
    .on('option:no-model', () => (noModelGiven = true))
    .action(
      action(async (o: { port?: string; baud: number; build: string; bundle?: string; model?: string | false; modelOnly: boolean; reset?: string; compress: boolean; verify: boolean; appBaud: number }) => {
        if (modelGiven !== undefined && noModelGiven) {
          throw new UserError(
            `--model ${modelGiven} and --no-model contradict each other (the one writes that model, the other leaves the model partition as it is); pass only one of them`,
          );
        }
        const result = await runFlashCommand(o);
        const rate = result.bytesWritten / Math.max(result.seconds, 1e-3);
        process.stdout.write(
          `flashed ${result.bytesWritten} bytes to ${result.chip} in ${result.seconds.toFixed(1)} s (${(rate / 1024).toFixed(1)} KiB/s); ` +
            `regions verified: ${result.regions.map((r) => r.role).join(', ')}\n`,
        );
      }),
    );

  program
    .command('bundle')
    .summary('release folder of images, model and SHA-256s')
    .description('pack the app images, flasher_args.json and a model into one folder for technicians, with SHA-256s')
    .option('--build <dir>', 'ESP-IDF build folder holding flasher_args.json', 'firmware/build')
    .option('--model <file.tflite>', 'model to include')
    .requiredOption('--out <dir>', 'bundle folder to write')
    .action(
      action(async (o: { build: string; model?: string; out: string }) => {
        guardOutDir(o.out, { ...BUNDLE_OUTPUT, inputs: [o.build, o.model] });
        const m = await createBundle(`${o.build}/flasher_args.json`, o.out, o.model);
        process.stdout.write(`bundle written to ${o.out}: ${m.files.map((f) => f.path).join(', ')}\n`);
      }),
    );
}
