// Flash throughput against the ROM bootloader emulator with the link throttled to 921,600 baud:
// bytes/s written as a share of the link's byte rate (10 bits per byte on a UART).
import { mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { flashBoard } from '../host/flash/flash.ts';
import { loadFlashPlan } from '../host/flash/images.ts';
import { openSerialLink } from '../host/flash/link.ts';
import { RomEmulator } from '../host/flash/rom-emulator.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { makeBuildDir } from '../test/flash/fixtures.ts';

const BAUD = 921600;
const APP_BYTES = 1_000_000;

const dir = await mkdtemp(join(tmpdir(), 'flash-bench-'));
await makeBuildDir(dir, APP_BYTES);
const plan = await loadFlashPlan(join(dir, 'flasher_args.json'));
const emulator = new RomEmulator({ throttle: true });
const link = await openSerialLink('/dev/ttyEMU0', 115200, emulator.binding('/dev/ttyEMU0'));
const result = await flashBoard({ plan, link, baud: BAUD, resetStrategy: 'classic' });
await link.close();
const app = result.regions.find((r) => r.role === 'app')!;
const linkBytesPerSecond = BAUD / 10;
const appRate = app.bytes / app.seconds;
const figures = {
  benchmark: 'flash',
  command: 'npm run bench -- flash',
  date: new Date().toISOString(),
  cpus: cpus().length,
  baud: BAUD,
  linkBytesPerSecond,
  appBytes: app.bytes,
  appSeconds: app.seconds,
  appBytesPerSecond: appRate,
  shareOfLinkRate: appRate / linkBytesPerSecond,
  totalBytes: result.bytesWritten,
  totalSeconds: result.seconds,
  note: 'ROM loader protocol (no stub, no compression): 1 KiB FLASH_DATA blocks, each acknowledged before the next; the emulator answers at once, so the gap is protocol overhead (16-byte data header, 8-byte command header, SLIP escapes, per-block round trip) plus timer granularity, not flash write time.',
};
await writeJsonAtomic(join(import.meta.dirname, 'results', 'flash.json'), figures);
console.log(JSON.stringify(figures, null, 2));
