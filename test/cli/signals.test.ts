/**
 * A hil run's sorter-sim must not outlive it: SIGTERM stops both (exit 143), and after SIGKILL, which
 * the CLI cannot handle, the simulator notices its host's pipe closing and exits by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyDataset, tinyModel } from '../serial/fixtures.ts';
import { EXIT } from '../../host/util/exit-codes.ts';

const cli = resolve('dist/plastisort.js');
const built = existsSync(resolve('build-host/sim/sorter-sim'));

/** Pids of the processes whose parent is `pid` and whose name is `name` (Linux /proc). */
function childrenNamed(pid: number, name: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && comm === name) found.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, f: () => T | undefined, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-signals-'));
  // The manifest's photo root is its own folder: outputs go beside it, not inside.
  await tinyDataset(join(dir, 'proj'), 40);
  writeFileSync(join(dir, 'model.tflite'), tinyModel(1));
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startHil(out: string): ChildProcess {
  // Throttled to 9600 baud so the run is still going when the signal arrives.
  return spawn(process.execPath, [cli, 'hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', out, '--baud', '9600', '--no-references'], {
    cwd: dir,
    stdio: 'ignore',
  });
}

describe.skipIf(!built || process.platform !== 'linux')('hil and its simulator on signals', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} to hil: sorter-sim is gone too`, async () => {
      const child = startHil(`out-${signal}`);
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const sim = await waitFor('sorter-sim to start', () => childrenNamed(child.pid!, 'sorter-sim')[0], 90_000);
      child.kill(signal);
      const code = await exited;
      if (signal === 'SIGTERM') expect(code).toBe(EXIT.sigterm);
      await waitFor('sorter-sim to exit', () => (alive(sim) ? undefined : true), 10_000);
      // The lock of the killed run does not block the next one.
      expect(existsSync(join(dir, `out-${signal}`, 'journal.jsonl.lock'))).toBe(signal === 'SIGKILL');
    }, 120_000);
  }
});
