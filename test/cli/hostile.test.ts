/**
 * Hostile input, command by command, through the built CLI as a user runs it: each case asserts the
 * exit code, a single `plastisort:` line naming the input and the fix (no stack trace), and that not
 * one file of the project folder changed (nothing of the user's deleted or overwritten).
 *
 * Every case runs in its own copy of a tiny project folder, so cases run concurrently and a case
 * that does write something cannot hide behind another.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../host/util/exit-codes.ts';
import { makeHostileWorkspace } from './hostile-fixtures.ts';

const cli = resolve('dist/plastisort.js');
const sorterSim = resolve('build-host/sim/sorter-sim');
const int8Run = resolve('build-host/int8_engine/int8-run');

interface Case {
  /** What a user would try, in words. */
  name: string;
  args: string[];
  code: number;
  /** The one error line (after `plastisort: `). */
  message: RegExp;
  /** Lines before the error that are allowed (warnings the command prints on the way). */
  allowOtherLines?: boolean;
  /** Prepares the case's folder (e.g. a lock held by a live process). */
  setup?: (dir: string) => void;
  /** A native tool instead of the CLI. */
  binary?: string;
}

const C = (name: string, args: string[], message: RegExp, extra: Partial<Case> = {}): Case => ({ name, args, code: EXIT.input, message, ...extra });
const REFUSED_OUT = /already holds files plastisort did not write; name a new or empty folder/;
const CWD_OUT = /is the current folder, one above it or your home folder/;

const CASES: Record<string, Case[]> = {
  'usage (commander)': [
    C('an unknown option', ['evaluate', 'run', '--bogus'], /^unknown option '--bogus' \(run with --help for usage\)$/),
    C('an unknown command', ['frobnicate'], /^unknown command 'frobnicate' \(run with --help for usage\)$/),
    C('a missing argument', ['evaluate'], /^missing required argument 'target' \(run with --help for usage\)$/),
    C('an option without its value', ['data', 'split', '--data'], /^option '--data <dir>' argument missing/),
    C('compare --top below 1', ['compare', 'a', 'b', '--top', '-3'], /--top must be 1 or more, got -3 \(run with --help for usage\)$/),
    C('evaluate --batch-size 0', ['evaluate', 'run', '--batch-size', '0'], /--batch-size must be 1 or more, got 0/),
  ],
  'data synth': [
    C('--out a folder of the user\'s photos', ['data', 'synth', '--out', 'myphotos', '--per-class', '1', '--size', '32', '--classes', 'cup'], REFUSED_OUT),
    C('--out .', ['data', 'synth', '--out', '.', '--per-class', '1', '--size', '32', '--classes', 'cup'], CWD_OUT),
    C('--out ..', ['data', 'synth', '--out', '..', '--per-class', '1', '--size', '32', '--classes', 'cup'], CWD_OUT),
    C('--out an existing file', ['data', 'synth', '--out', 'notes.txt', '--per-class', '1', '--size', '32', '--classes', 'cup'], /--out notes\.txt is a file; name a folder/),
    C('--out below a file', ['data', 'synth', '--out', 'notes.txt/x', '--per-class', '1', '--size', '32', '--classes', 'cup'], /notes\.txt is a file, not a folder/),
    C('--out another command\'s output (a run folder)', ['data', 'synth', '--out', 'run', '--per-class', '1', '--size', '32', '--classes', 'cup'], REFUSED_OUT),
    C('--per-class 0', ['data', 'synth', '--out', 'fresh', '--per-class', '0'], /--per-class 0 is out of range/),
  ],
  'data split': [
    C('--out the photo folder itself', ['data', 'split', '--data', 'proj/images', '--out', 'proj/images'], /--out proj\/images is the input proj\/images/),
    C('--out inside the photo folder', ['data', 'split', '--data', 'proj/images', '--out', 'proj/images/split.json'], /lies inside the input proj\/images/),
    C('--out a folder', ['data', 'split', '--data', 'proj/images', '--out', 'myphotos'], /--out myphotos is a folder; give a file name/),
    C('--out a file of the user\'s', ['data', 'split', '--data', 'proj/images', '--out', 'notes.txt'], /--out notes\.txt exists and plastisort data split did not write it/),
    C('--data a file', ['data', 'split', '--data', 'notes.txt', '--out', 'new.json'], /--data notes\.txt: is a file, not a folder/),
    C('a single class', ['data', 'split', '--data', 'oneclass', '--out', 'new.json'], /only one class folder \("cup"\); a classifier needs at least two/),
    C('class folders one level down', ['data', 'split', '--data', 'wrapped', '--out', 'new.json'], /only one class folder \("images"\).*"wrapped\/images" holds 2 folders: did you mean --data wrapped\/images\?/),
    C('a symbolic link loop in the data folder', ['data', 'split', '--data', 'loopy', '--out', 'new.json'], /class folder\(s\) "a", "c" under loopy have no usable images/, { allowOtherLines: true }),
  ],
  'data report': [
    C('--out inside the photo folder', ['data', 'report', '--manifest', 'proj/split.json', '--out', 'proj/images/report'], /lies inside the input/),
    C('--out a folder of the user\'s', ['data', 'report', '--manifest', 'proj/split.json', '--out', 'myphotos'], REFUSED_OUT),
    C('--manifest a folder', ['data', 'report', '--manifest', 'proj', '--out', 'rep'], /proj: cannot read the split manifest \(EISDIR\)/),
    C('--samples 0', ['data', 'report', '--manifest', 'proj/split.json', '--out', 'rep', '--samples', '0'], /--samples 0 is out of range/),
    C('--manifest an image', ['data', 'report', '--manifest', 'proj/images/PET/0.png', '--out', 'rep'], /0\.png: not valid JSON .*\\r\\n\\x1a\\n/),
  ],
  train: [
    C('--out the manifest\'s photo folder', ['train', '--manifest', 'proj/split.json', '--out', 'proj/images'], /lies inside the input/),
    C('--out a folder of the user\'s', ['train', '--manifest', 'proj/split.json', '--out', 'myphotos'], REFUSED_OUT),
    C('--out .', ['train', '--manifest', 'proj/split.json', '--out', '.'], CWD_OUT),
    C('--threads 0', ['train', '--manifest', 'proj/split.json', '--out', 'r', '--threads', '0'], /--threads 0 must be a whole number from 1/),
    C('--manifest a folder', ['train', '--manifest', 'proj', '--out', 'r'], /proj: cannot read the split manifest \(EISDIR\)/),
    C('--out inside the feature cache', ['train', '--manifest', 'proj/split.json', '--out', '.cache/features/r'], /lies inside the input \.cache\/features/),
  ],
  finetune: [
    C('--out the run being fine-tuned', ['finetune', '--from', 'run', '--out', 'run'], /is the run being fine-tuned/),
    C('--out a folder of the user\'s', ['finetune', '--from', 'run', '--manifest', 'proj/split.json', '--out', 'myphotos'], REFUSED_OUT),
    C('--epochs 0', ['finetune', '--from', 'run', '--manifest', 'proj/split.json', '--out', 'ft', '--epochs', '0'], /--epochs 0 must be a whole number from 1/),
    // The hand-made run records no manifest, so finetune first warns that leakage cannot be ruled out.
    C('--from a run with a truncated weights.bin', ['finetune', '--from', 'run-truncated', '--manifest', 'proj/split.json', '--out', 'ft', '--threads', '1'], /weight files hold \d+ bytes but model\.json describes \d+/, { allowOtherLines: true }),
  ],
  evaluate: [
    C('--bootstrap -1', ['evaluate', 'run', '--manifest', 'proj/split.json', '--bootstrap', '-1'], /--bootstrap -1 must be a whole number from 0/),
    C('--out a folder of the user\'s', ['evaluate', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'myphotos'], REFUSED_OUT),
    C('--out inside the photo folder', ['evaluate', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'proj/images/eval'], /lies inside the input/),
    C('a run with a truncated weights.bin', ['evaluate', 'run-truncated', '--manifest', 'proj/split.json'], /run-truncated\/model: the weight files hold/),
    C('a model with a NaN scale', ['evaluate', 'nan-scale.tflite', '--manifest', 'proj/split.json', '--out', 'ev'], /nan-scale\.tflite: damaged model.*scale NaN/),
    C('a model with a buffer longer than its tensor', ['evaluate', 'long-buffer.tflite', '--manifest', 'proj/split.json', '--out', 'ev'], /long-buffer\.tflite: damaged model.*buffer has 12345 bytes/),
  ],
  quantize: [
    C('--out a folder', ['quantize', 'run', '--manifest', 'proj/split.json', '--out', 'myphotos'], /--out myphotos is a folder; give a file name/),
    C('--out a file of the user\'s', ['quantize', 'run', '--manifest', 'proj/split.json', '--out', 'notes.txt'], /--out notes\.txt exists and plastisort quantize did not write it/),
    C('--out inside the run', ['quantize', 'run', '--manifest', 'proj/split.json', '--out', 'run/model.tflite'], /lies inside the input run/),
    C('--calib 0', ['quantize', 'run', '--manifest', 'proj/split.json', '--out', 'q.tflite', '--calib', '0'], /--calib 0: give a whole number/),
    C('a run with a truncated weights.bin', ['quantize', 'run-truncated', '--manifest', 'proj/split.json', '--out', 'q.tflite'], /weight files hold/, { allowOtherLines: true }),
    C('a hand-made run that records no manifest, without --manifest', ['quantize', 'run', '--out', 'q.tflite'], /run\/config\.json records no split manifest; pass --manifest FILE/, { allowOtherLines: true }),
  ],
  inspect: [
    C('a folder', ['inspect', 'proj'], /proj: cannot read the file \(EISDIR\)/),
    C('a NaN scale', ['inspect', 'nan-scale.tflite'], /damaged model, 1 problem.*scale NaN/),
    C('a buffer longer than its tensor', ['inspect', 'long-buffer.tflite'], /damaged model.*buffer has 12345 bytes, shape \[12340,1\]/),
    C('a dimension of 2^31 - 1', ['inspect', 'huge-dim.tflite'], /damaged model.*\[2147483647,1\]/),
    C('plastisort metadata without floatScaling (fuzz corpus seed)', ['inspect', resolve('firmware/sim/int8_engine/fuzz/corpus_fuzz_int8_model/small_classifier.tflite')], /damaged model.*plastisort metadata is unreadable/),
  ],
  export: [
    C('--out a folder of the user\'s', ['export', 'model.tflite', '--out', 'myphotos'], REFUSED_OUT),
    C('--out an existing file', ['export', 'model.tflite', '--out', 'notes.txt'], /--out notes\.txt is a file; name a folder/),
    C('no --out outside a checkout', ['export', 'model.tflite'], /no --out given and firmware\/main is not here \(.* is not a plastisort checkout\); run from the checkout or pass --out DIR/),
    C('a folder as the model', ['export', 'proj', '--out', 'hdr'], /proj: cannot read the model \(EISDIR\)/),
    C('a model with a NaN scale', ['export', 'nan-scale.tflite', '--out', 'hdr'], /damaged model.*scale NaN/),
    C('a model with a dimension of 2^31 - 1', ['export', 'huge-dim.tflite', '--out', 'hdr'], /damaged model/),
  ],
  hil: [
    C('--out a folder of the user\'s', ['hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'myphotos'], REFUSED_OUT),
    C('--port a regular file', ['hil', '--port', 'notes.txt', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'h'], /--port notes\.txt is not a serial device \(a file\)/),
    C('--port a folder', ['hil', '--port', 'proj', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'h'], /--port proj is not a serial device \(a folder\)/),
    C('--model a folder', ['hil', '--sim', '--model', 'proj', '--manifest', 'proj/split.json', '--out', 'h'], /--model proj is a folder; give the \.tflite/),
    C('--manifest a folder', ['hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj', '--out', 'h'], /--manifest proj is a folder; give the split manifest/),
    C('--journal a folder', ['hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'h', '--journal', 'proj'], /--journal proj is a folder; give a file/),
    C('--window 0', ['hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'h', '--window', '0'], /--window 0 must be a whole number from 1/),
    {
      ...C('a second run on a journal in use', ['hil', '--sim', '--model', 'model.tflite', '--manifest', 'proj/split.json', '--out', 'h'], /is in use by another hil run \(process \d+\)/),
      code: EXIT.busy,
      // The test runner itself is the live process holding the lock.
      setup: (dir) => {
        cpSync(join(dir, 'emptydir'), join(dir, 'h'), { recursive: true });
        writeFileSync(join(dir, 'h', '.plastisort-output.json'), JSON.stringify({ writtenBy: 'hil' }));
        writeFileSync(join(dir, 'h', 'journal.jsonl.lock'), `${process.pid}\n`);
      },
    },
  ],
  bundle: [
    C('--out a folder of the user\'s', ['bundle', '--build', 'build', '--out', 'myphotos'], REFUSED_OUT),
    C('--out the build folder', ['bundle', '--build', 'build', '--out', 'build'], /is the input build/),
    C('--out ..', ['bundle', '--build', 'build', '--out', '..'], CWD_OUT),
  ],
  pipeline: [
    C('--out a folder of the user\'s', ['pipeline', '--out', 'myphotos', '--no-hil'], REFUSED_OUT),
    C('--calib 0', ['pipeline', '--out', 'p', '--calib', '0', '--no-hil'], /--calib 0 must be a whole number from 1/),
    C('--views 0', ['pipeline', '--out', 'p', '--views', '0', '--no-hil'], /--views 0 must be a whole number from 1/),
    C('--port that does not exist', ['pipeline', '--out', 'p', '--port', '/dev/does-not-exist'], /--port \/dev\/does-not-exist: no such device/),
    C('--no-hil with --port', ['pipeline', '--out', 'p', '--no-hil', '--port', '/dev/ttyUSB0'], /^--no-hil skips the stage that --port is for; drop one of them$/),
    C('--data a file', ['pipeline', '--data', 'notes.txt', '--out', 'p'], /--data notes\.txt is a file/),
    C('--out inside --data', ['pipeline', '--data', 'proj/images', '--out', 'proj/images/out', '--no-hil'], /lies inside the input proj\/images/),
  ],
  'native tools': [
    { ...C('sorter-sim --model a folder', ['--model', 'proj', '--stdio'], /^sorter-sim: cannot read model proj: Is a directory$/), binary: sorterSim, code: 2 },
    { ...C('int8-run with a folder as the model', ['proj', 'notes.txt', 'out.bin'], /^int8-run: cannot read model proj: Is a directory$/), binary: int8Run, code: 1 },
  ],
};

/** Every entry under `dir` (hidden ones too) with its content hash, link target or "dir". */
function snapshot(dir: string, base = dir, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const rel = p.slice(base.length + 1);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.set(rel, `link:${readlinkSync(p)}`);
    else if (st.isDirectory()) {
      out.set(rel, 'dir');
      snapshot(p, base, out);
    } else out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return out;
}

function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const diff: string[] = [];
  for (const [k, v] of before) if (after.get(k) !== v) diff.push(after.has(k) ? `changed ${k}` : `deleted ${k}`);
  for (const k of after.keys()) if (!before.has(k)) diff.push(`created ${k}`);
  return diff;
}

function run(binary: string | undefined, args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const [cmd, argv] = binary ? [binary, args] : [process.execPath, [cli, ...args]];
    const child = spawn(cmd, argv, { cwd, env: { ...process.env, PLASTISORT_DEBUG: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => res({ code, stderr }));
  });
}

// Spawning the CLI loads tfjs: at most this many at once on a 2-core machine.
let slots = 3;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (slots === 0) await new Promise<void>((r) => waiting.push(r));
  slots--;
  try {
    return await fn();
  } finally {
    slots++;
    waiting.shift()?.();
  }
}

let root: string;
let template: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'plastisort-hostile-'));
  template = join(root, 'template');
  await makeHostileWorkspace(template);
}, 120_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

let caseNo = 0;
for (const [command, cases] of Object.entries(CASES)) {
  describe(`hostile input: ${command}`, () => {
    for (const c of cases) {
      const skip = c.binary !== undefined && !existsSync(c.binary);
      it.skipIf(skip).concurrent(`${c.name} → exit ${c.code}, one line, nothing changed`, async () => {
        const dir = join(root, `case-${caseNo++}`);
        cpSync(template, dir, { recursive: true, verbatimSymlinks: true });
        c.setup?.(dir);
        const before = snapshot(dir);
        const r = await limited(() => run(c.binary, c.args, dir));
        const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
        const errorLines = lines.filter((l) => /^(plastisort|sorter-sim|int8-run): /.test(l));
        expect(r.stderr).not.toMatch(/^\s+at /m);
        expect(r.stderr).not.toMatch(/internal error/);
        expect(errorLines, r.stderr).toHaveLength(1);
        if (!c.allowOtherLines) expect(lines, r.stderr).toHaveLength(1);
        expect(errorLines[0]!.replace(/^plastisort: /, ''), r.stderr).toMatch(c.message);
        expect(r.code, r.stderr).toBe(c.code);
        expect(changes(before, snapshot(dir))).toEqual([]);
      }, 120_000);
    }
  });
}
