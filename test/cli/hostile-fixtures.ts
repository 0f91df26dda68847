/**
 * A small project folder for the hostile-input table: photos and a manifest, a tiny int8 model, a tiny
 * float run, an ESP-IDF-like build folder, and folders and files of "the user's" that no command may
 * touch. Everything is tiny so the whole table runs in seconds.
 */
import { mkdirSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyDataset, tinyFloatRun, tinyModel } from '../serial/fixtures.ts';
import { makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';

/** Replaces the one occurrence of `from` in `bytes`; a second occurrence would make the damage ambiguous. */
function patchUnique(bytes: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const b = Buffer.from(bytes);
  const at = b.indexOf(from);
  if (at < 0 || b.indexOf(from, at + 1) >= 0) throw new Error('patch pattern is not unique');
  const out = Uint8Array.from(b);
  out.set(to, at);
  return out;
}

const MARK_DIM = 12345;
const MARK_SCALE = 0.0421875;

/**
 * The tiny model with an extra constant tensor of a distinctive length and a distinctive output scale,
 * so single fields can be damaged in the bytes: what a bit flip or a hand edit does to a real file.
 */
function markedModel(): Uint8Array {
  const m = readTflite(tinyModel(1), 'tiny');
  m.buffers.push(new Uint8Array(MARK_DIM).fill(1));
  m.tensors.push({ name: 'unused', shape: [MARK_DIM, 1], type: 'int8', buffer: m.buffers.length - 1 });
  const logits = m.tensors.find((t) => t.name === 'logits')!;
  logits.quantization = { scale: [MARK_SCALE], zeroPoint: [3] };
  return writeTflite(m);
}

const shape = (d: number) => new Uint8Array(Int32Array.of(d, 1).buffer);
const f32 = (v: number) => new Uint8Array(Float32Array.of(v).buffer);

/** Damaged models: a NaN scale, a buffer longer than its tensor, a dimension of 2^31 − 1. */
export function damagedModels(): Record<string, Uint8Array> {
  const base = markedModel();
  return {
    'nan-scale.tflite': patchUnique(base, f32(MARK_SCALE), f32(Number.NaN)),
    'long-buffer.tflite': patchUnique(base, shape(MARK_DIM), shape(MARK_DIM - 5)),
    'huge-dim.tflite': patchUnique(base, shape(MARK_DIM), shape(2 ** 31 - 1)),
  };
}

export async function makeHostileWorkspace(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // tinyDataset puts images/ and split.json (root ".") into its folder.
  mkdirSync(join(dir, 'proj'), { recursive: true });
  await tinyDataset(join(dir, 'proj'), 2);
  writeFileSync(join(dir, 'model.tflite'), tinyModel(1));
  await tinyFloatRun(join(dir, 'run'));
  // A float run whose weights file was cut short.
  mkdirSync(join(dir, 'run-truncated', 'model'), { recursive: true });
  for (const f of ['config.json', 'model/model.json']) writeFileSync(join(dir, 'run-truncated', f), readFileSync(join(dir, 'run', f)));
  const weights = readFileSync(join(dir, 'run', 'model', 'weights.bin'));
  writeFileSync(join(dir, 'run-truncated', 'model', 'weights.bin'), weights.subarray(0, Math.floor(weights.length / 2)));
  for (const [name, bytes] of Object.entries(damagedModels())) writeFileSync(join(dir, name), bytes);
  await makeBuildDir(join(dir, 'build'));
  // The user's own things.
  mkdirSync(join(dir, 'myphotos'), { recursive: true });
  writeFileSync(join(dir, 'myphotos', 'holiday.jpg'), 'not really a jpeg, but precious');
  writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
  mkdirSync(join(dir, 'emptydir'), { recursive: true });
  // A data folder with a symlink loop.
  mkdirSync(join(dir, 'loopy', 'a', 'b'), { recursive: true });
  symlinkSync('..', join(dir, 'loopy', 'a', 'b', 'up'));
  mkdirSync(join(dir, 'loopy', 'c'), { recursive: true });
  // One class, one image: split and train cannot make a classifier of it.
  mkdirSync(join(dir, 'oneclass', 'cup'), { recursive: true });
  writeFileSync(join(dir, 'oneclass', 'cup', 'a.png'), readFileSync(join(dir, 'proj', 'images', 'PET', '0.png')));
  // A dataset that wraps its class folders in one more folder, as ../shared/datasets/plastic6/images does.
  for (const cls of ['cup', 'jug']) {
    mkdirSync(join(dir, 'wrapped', 'images', cls), { recursive: true });
    writeFileSync(join(dir, 'wrapped', 'images', cls, 'a.png'), readFileSync(join(dir, 'proj', 'images', 'PET', '0.png')));
  }
}
