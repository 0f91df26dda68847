/**
 * End to end over a real pseudo-terminal: sorter-sim serves the tiny model, node-serialport talks to
 * it, and `plastisort hil` streams a split, survives the simulator being killed, resumes from its
 * journal and refuses a device holding another model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runHil } from '../../host/hil/run-hil.ts';
import type { HilOptions } from '../../host/hil/options.ts';
import { startPtySim, startStdioSim, stopChild } from '../../host/link/sim-process.ts';
import { SorterClient } from '../../host/link/client.ts';
import { childTransport, openSerialLink, openSerialTransport } from '../../host/link/port.ts';
import { compareDumps, matchedRounding, type LsbStats } from '../../host/hil/stats.ts';
import { UserError } from '../../host/util/errors.ts';
import { CLASSES, SIZE, simBinary, tinyDataset, tinyFloatRun, tinyModel } from './fixtures.ts';

const sim = simBinary();
if (!sim) console.warn('test/serial/hil-sim: SKIPPED, build-host/sim/sorter-sim is not built (npm test builds it)');

const PER_CLASS = 5;
const N = PER_CLASS * CLASSES.length;

describe.skipIf(!sim)('plastisort hil --sim over a pseudo-terminal', () => {
  let dir = '';
  let model = '';
  let otherModel = '';
  let manifest = '';
  let runDir = '';
  const base = (): Omit<HilOptions, 'out'> => ({ model, manifest, split: 'test', sim: true, baud: 0, dump: 0, window: 2, timeoutMs: 5000, retries: 2, references: false });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'plastisort-hil-'));
    model = join(dir, 'tiny.tflite');
    otherModel = join(dir, 'other.tflite');
    writeFileSync(model, tinyModel(1));
    writeFileSync(otherModel, tinyModel(2));
    manifest = await tinyDataset(join(dir, 'data'), PER_CLASS);
    runDir = await tinyFloatRun(join(dir, 'run'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const journalResults = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; i: number; scores: number[] })
      .filter((e) => e.kind === 'result');

  it('delivers every result, agrees with LiteRT and the simulator, and names the rounding', async () => {
    const out = join(dir, 'full');
    const { report, complete } = await runHil({ ...base(), out, references: true, dump: 1, run: runDir });
    expect(complete).toBe(true);
    expect(report.n).toBe(N);
    const results = journalResults(join(out, 'journal.jsonl'));
    expect(new Set(results.map((r) => r.i)).size).toBe(N);
    expect(results.every((r) => r.scores.length === CLASSES.length)).toBe(true);
    // The device here is the simulator in double rounding: bit-exact with the double reference.
    expect(report.vsSimulator?.double?.exactImages).toBe(N);
    // 'double', or 'double and single (…identical outputs…)' when the variants coincide on this split.
    expect(report.roundingMatched).toMatch(/^double( and (single|xnnpack))*( \(|$)/);
    expect(report.vsLitert?.n).toBe(N);
    // Each simulator variant is compared with LiteRT; the xnnpack arithmetic reproduces it exactly.
    expect(Object.keys(report.simulatorVsLitert ?? {}).sort()).toEqual(['double', 'single', 'xnnpack']);
    expect(report.simulatorVsLitert?.xnnpack?.exactImages).toBe(N);
    expect(report.dumps).toHaveLength(1);
    expect(report.dumps[0]!.tensors).toBe(5);
    expect(report.dumps[0]!.firstDifferingLayer).toBeNull();
    // Desktop float from the run folder, beside the device.
    expect(report.metrics.float?.n).toBe(N);
    expect(report.metrics.float?.agreement?.top1).toBeGreaterThanOrEqual(0);
    const md = readFileSync(join(out, 'hil-report.md'), 'utf8');
    expect(md).toContain('| desktop float |');
    expect(md).toContain('Simulator variant the device matched (double, single or xnnpack)');
    expect(md).toMatch(/\| xnnpack arithmetic \| [\d.]+ % \| \d+\/\d+ \|/);
  });

  it('survives the simulator being killed mid-run and resumes an interrupted run from the journal', async () => {
    const out = join(dir, 'killed');
    const journal = join(out, 'journal.jsonl');
    // A throttled line (≈0.1 s per image) leaves time to kill the simulator part-way.
    let kills = 0;
    const first = await runHil({
      ...base(),
      out,
      baud: 230_400,
      limit: 20,
      onSimStarted: (pid) => {
        if (kills++ === 0) {
          const timer = setInterval(() => {
            try {
              if (journalResults(journal).length >= 4) {
                clearInterval(timer);
                process.kill(pid, 'SIGKILL');
              }
            } catch {
              /* journal not written yet */
            }
          }, 20);
        }
      },
    });
    expect(kills).toBeGreaterThanOrEqual(2); // the killed simulator was restarted
    expect(first.report.link.reconnects).toBeGreaterThanOrEqual(1);
    // `limit` stops the run early, as Ctrl-C would: the journal holds 20 results.
    expect(first.complete).toBe(false);
    expect(journalResults(journal)).toHaveLength(20);
    const second = await runHil({ ...base(), out });
    expect(second.complete).toBe(true);
    const results = journalResults(journal);
    // Resumed, not restarted: each item exactly once.
    expect(results).toHaveLength(N);
    expect(new Set(results.map((r) => r.i)).size).toBe(N);
  });

  it('refuses a device holding another model, with one line and the journal kept', async () => {
    const other = await startPtySim({ model: otherModel });
    const out = join(dir, 'mismatch');
    try {
      const opts = { ...base(), sim: false, port: other.ptyPath, out };
      await expect(runHil(opts)).rejects.toThrow(UserError);
      await expect(runHil(opts)).rejects.toThrow(/not the model under test.*journal kept/);
      // The CLI prints it as one line and exits non-zero.
      const cli = resolve('host/cli/index.ts');
      const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'hil', '--port', other.ptyPath, '--model', model, '--manifest', manifest, '--out', out], {
        env: { ...process.env, PLASTISORT_QUIET: '1' },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^plastisort: .*not the model under test/);
      expect(readFileSync(join(out, 'journal.jsonl'), 'utf8')).toContain('plastisort.hil-journal/1');
    } finally {
      await other.stop();
    }
  });

  it('a wrong port is a clear one-line error', async () => {
    await expect(openSerialTransport(join(dir, 'no-such-tty'), 115200)).rejects.toThrow(/cannot open the serial port/);
  });

  it('the flasher and HIL open a port the same way and fail with the same error', async () => {
    const missing = join(dir, 'no-such-tty');
    const hil = await openSerialTransport(missing, 115200).then(() => null, (e: unknown) => e);
    const flasher = await openSerialLink(missing, 115200).then(() => null, (e: unknown) => e);
    expect(hil).toBeInstanceOf(UserError);
    expect(flasher).toBeInstanceOf(UserError);
    expect((flasher as Error).message).toBe((hil as Error).message);
    expect((hil as Error).message).toMatch(/^--port .*no-such-tty: cannot open the serial port \(.*\); check that the board is plugged in/);
  });

  it('DUMP names the first layer where two rounding variants part', async () => {
    const a = startStdioSim({ model, rounding: 'double' });
    const b = startStdioSim({ model, rounding: 'single' });
    const ca = new SorterClient(childTransport(a, 'double'));
    const cb = new SorterClient(childTransport(b, 'single'));
    try {
      await ca.handshake();
      await cb.handshake();
      let found = false;
      for (let seed = 0; seed < 20 && !found; seed++) {
        const input = Int8Array.from({ length: SIZE * SIZE * 3 }, (_, i) => ((i * 131 + seed * 977) % 255) - 127);
        const da = await ca.dump(input);
        const db = await cb.dump(input);
        expect(da.tensors.map((t) => t.name)).toEqual(db.tensors.map((t) => t.name));
        const layers = compareDumps(da.tensors, db.tensors);
        const first = layers.findIndex((l) => l.differing > 0);
        if (first >= 0) {
          found = true;
          // Layers before the first differing one are identical by definition of "first".
          expect(layers.slice(0, first).every((l) => l.differing === 0)).toBe(true);
          expect(layers[first]!.maxAbs).toBeGreaterThan(0);
        }
        // The RESULT in DUMP_END equals the last tensor (the softmax output).
        expect(Array.from(da.result.scores)).toEqual(Array.from(da.tensors.at(-1)!.data));
      }
      expect(found).toBe(true);
    } finally {
      await ca.close();
      await cb.close();
      await stopChild(a);
      await stopChild(b);
    }
  });
});

describe('matchedRounding', () => {
  const stats = (exactImages: number, n = 10): LsbStats => ({ n, top1: 1, exactImages, within1: 1, maxAbs: 0, meanAbs: 0, histogram: { '0': 0, '1': 0, '2-3': 0, '4+': 0 } });
  it('names the one variant the device equals, all that coincide, or the closest', () => {
    expect(matchedRounding({ double: stats(3), single: stats(10), xnnpack: stats(4) })).toBe('single');
    expect(matchedRounding({ double: stats(3), single: stats(4), xnnpack: stats(10) })).toBe('xnnpack');
    expect(matchedRounding({ double: stats(10), single: stats(10), xnnpack: stats(2) })).toBe('double and single (these variants give identical outputs on this split)');
    expect(matchedRounding({ double: stats(3), single: stats(7), xnnpack: stats(5) })).toBe('no variant exactly (closest: single, 7/10 images bit-exact)');
    expect(matchedRounding({})).toBe('unknown (no simulator comparison)');
  });
});
