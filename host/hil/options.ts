import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { holdsAll, type OutGuard } from '../util/out-dir.ts';
import type { SplitName } from '../data/manifest.ts';
import type { Rounding } from '../link/sim-process.ts';
import { checkWholeNumber } from '../util/whole-number.ts';

/** hil's report folder: marked, or (before markers) holding its journal or report. */
export const HIL_OUTPUT: OutGuard = {
  command: 'hil',
  legacy: (dir) => holdsAll('journal.jsonl')(dir) || holdsAll('hil-report.json')(dir),
};

/**
 * The port must name a character device (a serial port or pty): a regular file or folder given as
 * --port would otherwise be opened, written and waited on until the timeout.
 */
export function checkPortPath(port: string): void {
  if (process.platform === 'win32') return; // COM3 and friends are not paths
  if (!existsSync(port)) throw new UserError(`--port ${port}: no such device; plug the board in and give its port, e.g. /dev/ttyACM0 (or use --sim)`);
  if (!statSync(port).isCharacterDevice()) throw new UserError(`--port ${port} is not a serial device (a ${statSync(port).isDirectory() ? 'folder' : 'file'}); give the board's port, e.g. /dev/ttyACM0`);
}

function checkInputFile(option: string, path: string, fix: string): void {
  if (!existsSync(path)) throw new UserError(`${option} ${path}: no such file; ${fix}`);
  if (statSync(path).isDirectory()) throw new UserError(`${option} ${path} is a folder; ${fix}`);
}

/**
 * --run, before the report folder is made or the device contacted (its desktop float pass comes after
 * the device session): a run folder holding its model.
 */
export function checkHilRunFolder(run: string): void {
  const fix = 'give the run folder the model was quantized from (written by plastisort train or finetune), or leave --run out';
  if (!existsSync(run)) throw new UserError(`--run ${run}: no such folder; ${fix}`);
  if (!statSync(run).isDirectory()) throw new UserError(`--run ${run} is a file; ${fix}`);
  if (!existsSync(join(run, 'config.json'))) throw new UserError(`--run ${run}: not a run folder (no config.json); ${fix}`);
  if (!existsSync(join(run, 'model', 'model.json'))) throw new UserError(`--run ${run}: model/model.json is missing, the run did not finish; ${fix}`);
}

/** Every hil option, checked before the model or manifest is read or the report folder is made. */
export function checkHilOptions(o: { port?: string; sim?: boolean; split: string; dump: number; baud?: number; window: number; timeout: number; retries: number; model: string; manifest: string; journal?: string; run?: string }): void {
  checkInputFile('--model', o.model, 'give the .tflite written by plastisort quantize');
  checkInputFile('--manifest', o.manifest, 'give the split manifest written by plastisort data split');
  if (o.run !== undefined) checkHilRunFolder(o.run);
  if (o.journal && existsSync(o.journal) && statSync(o.journal).isDirectory()) {
    throw new UserError(`--journal ${o.journal} is a folder; give a file, e.g. ${o.journal}/journal.jsonl`);
  }
  if (!!o.port === !!o.sim) throw new UserError('give exactly one of --port PATH (a board) or --sim (the simulator)');
  if (!['train', 'val', 'test'].includes(o.split)) throw new UserError(`--split ${o.split}: use train, val or test`);
  checkWholeNumber('--dump', o.dump, 0, 10_000);
  checkWholeNumber('--baud', o.baud, 1, 20_000_000);
  checkWholeNumber('--window', o.window, 1, 64);
  checkWholeNumber('--timeout', o.timeout, 1, 3_600_000);
  checkWholeNumber('--retries', o.retries, 0, 100);
  if (o.port) checkPortPath(o.port);
}

export interface HilOptions {
  model: string;
  manifest: string;
  split: SplitName;
  /** Serial port of the board; exclusive with `sim`. */
  port?: string;
  /** Run against sorter-sim on a pseudo-terminal instead of a board. */
  sim?: boolean;
  simRounding?: Rounding;
  /** Line rate: the board's UART, or the simulator's throttle. 0 = unthrottled (pty) / unknown. */
  baud: number;
  journal?: string;
  out: string;
  dump: number;
  window: number;
  timeoutMs: number;
  retries: number;
  /** Compare against the simulator (every arithmetic variant) and LiteRT. */
  references: boolean;
  /** Trained run folder: adds desktop float metrics and the device's top-1 agreement with them. */
  run?: string;
  /** Stop the device phase after this many new results (tests; simulates an interruption). */
  limit?: number;
  /** Called with the simulator's pid each time one starts (tests kill it). */
  onSimStarted?: (pid: number, ptyPath: string) => void;
}
