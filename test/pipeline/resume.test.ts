import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist', 'plastisort.js');

function startPipeline(out: string): { child: ChildProcess; output: () => string } {
  let text = '';
  const child = spawn(
    process.execPath,
    [cli, 'pipeline', '--out', out, '--synth-per-class', '12', '--epochs', '1', '--finetune-epochs', '1', '--calib', '12', '--no-hil'],
    { cwd: root, env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return { child, output: () => text };
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}

describe('plastisort pipeline after a kill', () => {
  it('resumes at the first unfinished stage: finished stages are skipped, not redone', async () => {
    const out = await mkdtemp(join(tmpdir(), 'pipeline-resume-'));
    const first = startPipeline(out);
    try {
      // Kill it hard while it trains, after synth and split have finished.
      await until('the train stage to start', () => /train: running/.test(first.output()), 180_000);
      expect(existsSync(join(out, '.stamps', 'split.json'))).toBe(true);
      expect(existsSync(join(out, '.stamps', 'train.json'))).toBe(false);
    } finally {
      await killed(first.child);
    }
    const second = startPipeline(out);
    try {
      await until('the train stage to start again', () => /train: running/.test(second.output()), 180_000);
      const log = second.output();
      expect(log).toMatch(/synth: up to date, skipped/);
      expect(log).toMatch(/split: up to date, skipped/);
      expect(log).not.toMatch(/synth: running/);
      expect(log).not.toMatch(/split: running/);
    } finally {
      await killed(second.child);
    }
    // A half-trained run folder is never left where the next stage would read it.
    expect(existsSync(join(out, 'runs', 'baseline', 'config.json'))).toBe(false);
  }, 400_000);
});
