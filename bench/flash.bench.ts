// Flash throughput against the ROM bootloader emulator with the link throttled to 921,600 baud (10 bits
// per byte) and the flash chip's typical erase and program times modelled: the ROM erases a region when
// the write begins and programs each block before it answers. Measured on a stand-in for the firmware
// app image (see testing/flash/app-image-standin.ts), uncompressed (FLASH_DATA) and compressed
// (FLASH_DEFL_*), and on the code part alone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { flashBoard } from '../host/flash/flash.ts';
import { loadFlashPlan } from '../host/flash/images.ts';
import { openSerialLink } from '../host/link/port.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { firmwareAppStandIn } from '../testing/flash/app-image-standin.ts';
import { FIRMWARE_LAYOUT, makeBuildDir } from '../testing/flash/build-fixture.ts';
import { FLASH_TIMING } from '../testing/flash/flash-chip.ts';
import { RomEmulator } from '../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../testing/flash/serialport-binding.ts';

const BAUD = 921600;
const root = join(import.meta.dirname, '..');
const sim = join(root, 'build-host/sim/sorter-sim');
if (!existsSync(sim)) spawnSync('npx', ['zx', join(root, 'scripts/build-native.mjs'), '--target', 'sorter-sim'], { stdio: 'inherit', cwd: root });
const standIn = firmwareAppStandIn(sim, join(root, 'models/default.tflite'));
const linkBytesPerSecond = BAUD / 10;

async function run(app: Uint8Array, compress: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'flash-bench-'));
  await makeBuildDir(dir, app.length, 'esp32s3', app, FIRMWARE_LAYOUT);
  const full = await loadFlashPlan(join(dir, 'flasher_args.json'));
  // The app alone, so that the figures are the app's.
  const plan = { ...full, images: full.images.filter((i) => i.role === 'app') };
  const emulator = new RomEmulator({ throttle: true, flashTiming: true });
  const link = await openSerialLink('/dev/ttyEMU0', 115200, emulatorBinding(emulator));
  try {
    const result = await flashBoard({ plan, link, baud: BAUD, resetStrategy: 'classic', compress });
    const region = result.regions.find((r) => r.role === 'app')!;
    const rate = region.bytes / region.seconds;
    const modelledSeconds = (emulator.modelledMs - emulator.writes[0]!.atModelledMs) / 1000;
    return {
      compress,
      bytes: region.bytes,
      bytesOnLink: compress ? deflateSync(app, { level: 9 }).length : region.bytes,
      seconds: region.seconds,
      bytesPerSecond: rate,
      shareOfLinkRate: rate / linkBytesPerSecond,
      modelledSeconds,
      modelledBytesPerSecond: region.bytes / modelledSeconds,
      modelledShareOfLinkRate: region.bytes / modelledSeconds / linkBytesPerSecond,
      modelledEraseProgramSeconds: emulator.chip.busyMs / 1000,
    };
  } finally {
    await link.close();
  }
}

const code = standIn.image.subarray(0, 24 + standIn.codeBytes);
const results = {
  uncompressed: await run(standIn.image, false),
  compressed: await run(standIn.image, true),
  codeOnlyCompressed: await run(code, true),
};
const TARGET = 1.5;
const figures = {
  benchmark: 'flash',
  command: 'npm run bench -- flash',
  date: new Date().toISOString(),
  cpus: cpus().length,
  baud: BAUD,
  linkBytesPerSecond,
  flashTiming: FLASH_TIMING,
  appImage: {
    what: 'stand-in: ESP32-S3 image header + loaded segments of build-host/sim/sorter-sim (firmware portable code built for x86-64) + models/default.tflite (the built-in model the app embeds)',
    bytes: standIn.image.length,
    codeBytes: standIn.codeBytes,
    modelBytes: standIn.modelBytes,
    deflateRatio: deflateSync(standIn.image, { level: 9 }).length / standIn.image.length,
    codeDeflateRatio: deflateSync(code, { level: 9 }).length / code.length,
  },
  ...results,
  compressedOverUncompressed: results.compressed.bytesPerSecond / results.uncompressed.bytesPerSecond,
  target: `compressed effective rate >= ${TARGET}x the link byte rate on the firmware app image`,
  targetMet: results.compressed.modelledShareOfLinkRate >= TARGET,
  note: 'seconds/bytesPerSecond: wall-clock times through node-serialport with the emulator pacing bytes at the baud rate and delaying each answer by the modelled erase/program time; timer granularity adds about 1-2 ms per block. modelled*: the same exchange on the emulator clock (UART bytes at the baud rate both ways + erase/program time, no host turnaround), which is what a real link and chip would take. The ROM (no stub) acknowledges each 1 KiB block only after programming it, so flash time adds to link time instead of overlapping it.',
};
await writeJsonAtomic(join(import.meta.dirname, 'results', 'flash.json'), figures);
console.log(JSON.stringify(figures, null, 2));
