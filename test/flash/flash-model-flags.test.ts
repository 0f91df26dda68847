/**
 * `flash --model FILE --no-model`, in either order: commander keeps both under one key and the last one
 * would silently win. The CLI refuses the pair as contradictory, naming both options, before any work:
 * not the model file, the build or the port is looked at.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = resolve('dist/plastisort.js');

function flash(cwd: string, ...args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [cli, 'flash', ...args], { cwd, env: { ...process.env, PLASTISORT_DEBUG: '' }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const CONTRADICTION =
  'plastisort: --model a.tflite and --no-model contradict each other (the one writes that model, the other leaves the model partition as it is); pass only one of them\n';

describe('flash --model with --no-model', () => {
  for (const order of [
    ['--model', 'a.tflite', '--no-model'],
    ['--no-model', '--model', 'a.tflite'],
    ['--model=a.tflite', '--no-model'],
    ['--no-model', '--bundle', 'b', '--model', 'a.tflite', '--model-only'],
  ]) {
    it(`is refused in one line, exit 1, before any work: ${order.join(' ')}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'flash-model-flags-'));
      // Neither the model, the build, the bundle nor the port exists: the contradiction is named first.
      const r = flash(dir, ...order, '--build', 'nobuild', '--port', '/nonexistent/ttyACM0');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(CONTRADICTION);
      expect(r.stdout).toBe('');
      expect(await readdir(dir)).toEqual([]);
    });
  }

  it('either option alone goes on to the usual checks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flash-model-flags-'));
    const model = flash(dir, '--model', 'a.tflite', '--build', 'nobuild', '--port', '/nonexistent/ttyACM0');
    expect(model.code).toBe(1);
    expect(model.stderr).toBe('plastisort: a.tflite: no such model file\n');
    const noModel = flash(dir, '--no-model', '--build', 'nobuild', '--port', '/nonexistent/ttyACM0');
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toMatch(/^plastisort: no firmware build at nobuild /);
  });
});
