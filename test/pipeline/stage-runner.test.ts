import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPipeline, type PipelineStage } from '../../host/pipeline/stage-runner.ts';

async function twoStages(dir: string, calls: string[], params = 1): Promise<PipelineStage[]> {
  const src = join(dir, 'src.txt');
  const mid = join(dir, 'mid.txt');
  const out = join(dir, 'out.txt');
  return [
    {
      name: 'double',
      inputs: [src],
      outputs: [mid],
      params,
      async run() {
        calls.push('double');
        const n = Number(await readFile(src, 'utf8'));
        await writeFile(mid, String(n * 2 * params));
      },
    },
    {
      name: 'increment',
      inputs: [mid],
      outputs: [out],
      async run() {
        calls.push('increment');
        const n = Number(await readFile(mid, 'utf8'));
        await writeFile(out, String(n + 1));
      },
    },
  ];
}

describe('runPipeline', () => {
  it('runs every stage once, then skips stages whose inputs did not change', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    await writeFile(join(dir, 'src.txt'), '5');
    const calls: string[] = [];
    const first = await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    expect(first.map((o) => o.status)).toEqual(['ran', 'ran']);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('11');
    const second = await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    expect(second.map((o) => o.status)).toEqual(['skipped', 'skipped']);
    expect(calls).toEqual(['double', 'increment']);
  });

  it('re-runs from the first stage whose input content or parameters changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    await writeFile(join(dir, 'src.txt'), '5');
    const calls: string[] = [];
    await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    await writeFile(join(dir, 'src.txt'), '7');
    await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('15');
    await runPipeline(await twoStages(dir, calls, 3), join(dir, 'stamps'));
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('43');
    expect(calls).toEqual(['double', 'increment', 'double', 'increment', 'double', 'increment']);
  });

  it('resumes after a stage failed: finished stages are not run again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    await writeFile(join(dir, 'src.txt'), '1');
    const calls: string[] = [];
    const stages = await twoStages(dir, calls);
    const failing = { ...stages[1]!, run: async () => { throw new Error('killed'); } };
    await expect(runPipeline([stages[0]!, failing], join(dir, 'stamps'))).rejects.toThrow('killed');
    const resumed = await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    expect(resumed.map((o) => o.status)).toEqual(['skipped', 'ran']);
    expect(calls).toEqual(['double', 'increment']);
  });

  it('runs a stage again when its output was deleted or edited by hand', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    await writeFile(join(dir, 'src.txt'), '2');
    const calls: string[] = [];
    await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    await writeFile(join(dir, 'out.txt'), 'tampered');
    const again = await runPipeline(await twoStages(dir, calls), join(dir, 'stamps'));
    expect(again.map((o) => o.status)).toEqual(['skipped', 'ran']);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('5');
  });

  it('removes a summary stage\'s output as soon as an earlier stage runs, so a failed rerun leaves no stale report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    await writeFile(join(dir, 'src.txt'), '5');
    const report = join(dir, 'report.txt');
    const stages = async (fail: boolean): Promise<PipelineStage[]> => {
      const [first, second] = await twoStages(dir, [], 1);
      return [
        first!,
        { ...second!, run: fail ? async () => Promise.reject(new Error('stage failed')) : second!.run },
        { name: 'report', inputs: [join(dir, 'out.txt')], outputs: [report], summary: true, run: () => writeFile(report, 'about 11') },
      ];
    };
    await runPipeline(await stages(false), join(dir, 'stamps'));
    expect(await readFile(report, 'utf8')).toBe('about 11');
    await writeFile(join(dir, 'src.txt'), '7');
    await expect(runPipeline(await stages(true), join(dir, 'stamps'))).rejects.toThrow('stage failed');
    expect(existsSync(report)).toBe(false);
    expect(existsSync(join(dir, 'stamps', 'report.json'))).toBe(false);
  });
});
