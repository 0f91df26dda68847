/** Starting sorter-sim (firmware/sim) from the host: on a pseudo-terminal or on stdio. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.ts';
import { trackChild } from '../util/children.ts';

/**
 * The simulator's arithmetic: 'double' and 'single' are the two TFLM requantization roundings a device
 * can be built with; 'xnnpack' reproduces desktop LiteRT (its XNNPACK delegate's float requantization),
 * which no device runs — it shows whether the simulator's kernels compute what an official runtime does.
 */
export type Rounding = 'double' | 'single' | 'xnnpack';
export const ROUNDINGS: readonly Rounding[] = ['double', 'single', 'xnnpack'];

/** build-host/sim/sorter-sim of this checkout (PLASTISORT_SIM overrides). */
export function findSimBinary(): string {
  const env = process.env.PLASTISORT_SIM;
  if (env) {
    if (!existsSync(env)) throw new UserError(`PLASTISORT_SIM=${env}: no such file; unset it or point it at a built sorter-sim`);
    return env;
  }
  const here = dirname(fileURLToPath(import.meta.url));
  // From host/link/ (sources) or dist/ (the bundled CLI), and from the working directory.
  const candidates = [resolve(here, '../../build-host/sim/sorter-sim'), resolve(here, '../build-host/sim/sorter-sim'), resolve('build-host/sim/sorter-sim')];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new UserError(`sorter-sim is not built (looked for ${candidates[0]}); build it with: npm test, or cmake -S firmware/host -B build-host && cmake --build build-host --target sorter-sim`);
}

export interface SimOptions {
  model: string;
  rounding?: Rounding;
  baud?: number;
  binary?: string;
}

function simArgs(o: SimOptions, mode: '--pty' | '--stdio'): string[] {
  const args = ['--model', o.model, mode, '--rounding', o.rounding ?? 'double'];
  if (o.baud && o.baud > 0) args.push('--baud', String(o.baud));
  return args;
}

export interface PtySim {
  child: ChildProcessWithoutNullStreams;
  ptyPath: string;
  stop(): Promise<void>;
}

/** Spawns the simulator on a new pseudo-terminal and waits for the path it prints. */
export async function startPtySim(o: SimOptions): Promise<PtySim> {
  const bin = o.binary ?? findSimBinary();
  const child = trackChild(spawn(bin, simArgs(o, '--pty'), { stdio: ['pipe', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 4000) stderr = stderr.slice(-4000);
  });
  const ptyPath = await new Promise<string>((resolvePath, reject) => {
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        child.stdout.off('data', onData);
        resolvePath(out.slice(0, nl).trim());
      }
    };
    child.stdout.on('data', onData);
    child.once('error', (e) => reject(new UserError(`${bin}: cannot start the simulator (${e.message})`)));
    child.once('exit', (code) => reject(new UserError(`sorter-sim exited (code ${code}) before opening a pseudo-terminal: ${stderr.trim().split('\n').at(-1) ?? ''}`)));
  });
  child.removeAllListeners('exit');
  return { child, ptyPath, stop: () => stopChild(child) };
}

/** Spawns the simulator speaking the protocol on its stdin/stdout. */
export function startStdioSim(o: SimOptions): ChildProcessWithoutNullStreams {
  const bin = o.binary ?? findSimBinary();
  const child = trackChild(spawn(bin, simArgs(o, '--stdio'), { stdio: ['pipe', 'pipe', 'pipe'] }));
  child.stderr.resume();
  return child;
}

export function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}
