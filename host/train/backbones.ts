/**
 * Where MobileNetV2 weights come from (`--backbone`), each read into Keras-named, BN-folded weights
 * plus the input scaling those weights were trained with:
 * - a tfjs LayersModel folder (or its model.json), e.g. the ImageNet one in ../shared — [-1, 1];
 * - an ImageNet MobileNetV2 `.tflite` — dequantized, tensors mapped by graph position, scaling taken
 *   from the input tensor's quantization;
 * - a Keras `.h5` of keras.applications.MobileNetV2 (Keras 2 HDF5 layout) — [-1, 1];
 * - `nsfwjs` — the offline fallback; its MobileNetV2 expects [0, 1] input (nsfwjs divides by 255).
 * `imagenet` (and no `--backbone` at all) is resolved by backbone-cache.ts: the user's cache, then
 * ../shared, then the official Keras download, and only then nsfwjs.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import { log } from '../util/log.ts';
import type { TfliteModel, Tensor as TfliteTensor } from '../tflite/model.ts';
import { readTflite } from '../tflite/reader.ts';
import { readRecord, resolveImagenet, type BackboneEnv, type BackboneOrigin } from './backbone-cache.ts';
import { foldBatchNorm, type NamedWeights } from './mobilenetv2.ts';

export type BackboneKind = 'tfjs' | 'tflite' | 'h5' | 'nsfwjs';

export interface FloatScaling {
  /** x = p * scale + offset for a byte p in 0..255. */
  scale: number;
  offset: number;
}

export const SCALING_MINUS1_1: FloatScaling = { scale: 1 / 127.5, offset: -1 };
export const SCALING_0_1: FloatScaling = { scale: 1 / 255, offset: 0 };

export interface BackboneInfo {
  kind: BackboneKind;
  /** Path as resolved, or 'nsfwjs'. */
  source: string;
  /** SHA-256 of the weight bytes as stored by the source. */
  sha256: string;
  floatScaling: FloatScaling;
  /** True for the nsfwjs fallback, whose upper layers are not ImageNet features. */
  fallback: boolean;
  /** Where the weights came from (cache, ../shared, a download, a path, the fallback) and why. */
  origin?: BackboneOrigin;
}

export interface LoadedBackbone extends BackboneInfo {
  weights: NamedWeights;
}

/** The one command that replaces the nsfwjs fallback by real ImageNet weights. */
export const FETCH_COMMAND = 'plastisort backbone fetch';

export const NSFWJS_WARNING =
  'using the nsfwjs MobileNetV2 as backbone (offline fallback): its layers from block_11_expand on were re-trained on NSFW data; ' +
  'measured on plastic6 a linear probe reaches 69% with it against 89% with ImageNet weights. Pass --backbone with ImageNet weights ' +
  '(a tfjs folder, a MobileNetV2 .tflite or a Keras .h5) for real use. ' +
  `Fix: run \`${FETCH_COMMAND}\` once with network access; it caches the official Keras ImageNet weights for every later run.`;


function fromNamedTensors(map: tf.NamedTensorMap): NamedWeights {
  const out: NamedWeights = new Map();
  for (const [name, t] of Object.entries(map)) {
    out.set(name.replace(/:0$/, ''), { shape: t.shape.slice(), data: t.dataSync() as Float32Array });
    t.dispose();
  }
  return out;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

interface TfjsModelJson {
  modelTopology?: unknown;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

function bnEpsilonFromTopology(topology: unknown): number {
  const text = JSON.stringify(topology ?? {});
  const m = /"class_name":\s*"BatchNormalization",\s*"config":\s*\{[^}]*"epsilon":\s*([0-9.eE+-]+)/.exec(text);
  return m ? Number(m[1]) : 1e-3;
}

async function loadTfjsFolder(path: string): Promise<LoadedBackbone> {
  const modelJsonPath = statSync(path).isDirectory() ? join(path, 'model.json') : path;
  if (!existsSync(modelJsonPath)) throw new UserError(`${path}: no model.json; pass a tfjs LayersModel folder`);
  const dir = dirname(modelJsonPath);
  const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as TfjsModelJson;
  if (!Array.isArray(json.weightsManifest)) throw new UserError(`${modelJsonPath}: not a tfjs LayersModel (no weightsManifest)`);
  const shards: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const f = join(dir, p);
      if (!existsSync(f)) throw new UserError(`${modelJsonPath}: weight shard ${p} is missing; copy the whole folder`);
      shards.push(new Uint8Array(await readFile(f)));
    }
  }
  const bytes = concatBytes(shards);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const raw = fromNamedTensors(tf.io.decodeWeights(bytes.buffer as ArrayBuffer, specs));
  return {
    kind: 'tfjs',
    source: resolve(dir),
    sha256: sha256Hex(bytes),
    floatScaling: SCALING_MINUS1_1,
    fallback: false,
    weights: foldBatchNorm(raw, bnEpsilonFromTopology(json.modelTopology)),
  };
}

async function loadNsfwjs(): Promise<LoadedBackbone> {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    // nsfwjs's `exports` hides package.json; its CommonJS entry is dist/cjs/index.js.
    dir = join(dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  } catch {
    throw new UserError('the nsfwjs package is not installed; run npm ci, or pass --backbone with MobileNetV2 weights');
  }
  // The package ships its model as UMD modules: the model.json object and the weights as base64.
  const modelJson = require(join(dir, 'model.min.js')) as TfjsModelJson;
  const b64 = require(join(dir, 'group1-shard1of1.min.js')) as string;
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  const specs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const raw = fromNamedTensors(tf.io.decodeWeights(bytes.buffer as ArrayBuffer, specs));
  log.warn(NSFWJS_WARNING);
  return {
    kind: 'nsfwjs',
    source: 'nsfwjs',
    sha256: sha256Hex(bytes),
    floatScaling: SCALING_0_1,
    fallback: true,
    weights: foldBatchNorm(raw, bnEpsilonFromTopology(modelJson.modelTopology)),
  };
}

// ---- .tflite ----------------------------------------------------------------------------------

/** Keras names of MobileNetV2's convolutions in graph order (they lie on one path, so order is unique). */
export function mobilenetConvOrder(): string[] {
  const names = ['Conv1', 'expanded_conv_depthwise', 'expanded_conv_project'];
  for (let b = 1; b <= 16; b++) names.push(`block_${b}_expand`, `block_${b}_depthwise`, `block_${b}_project`);
  names.push('Conv_1');
  return names;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Float values of a constant tensor, dequantized per tensor or per channel. */
export function dequantizeTensor(model: TfliteModel, t: TfliteTensor): Float32Array {
  const buf = model.buffers[t.buffer];
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (!buf || buf.byteLength === 0) throw new Error(`tensor ${t.name} has no constant data`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (t.type) {
      case 'float32': raw[i] = view.getFloat32(i * 4, true); break;
      case 'float16': raw[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case 'int8': raw[i] = view.getInt8(i); break;
      case 'uint8': raw[i] = view.getUint8(i); break;
      case 'int16': raw[i] = view.getInt16(i * 2, true); break;
      case 'int32': raw[i] = view.getInt32(i * 4, true); break;
      default: throw new Error(`tensor ${t.name}: cannot dequantize type ${t.type}`);
    }
  }
  const q = t.quantization;
  if (t.type === 'float32' || t.type === 'float16' || !q || !q.scale.length) return raw;
  const axis = q.scale.length > 1 ? (q.quantizedDimension ?? 0) : -1;
  const inner = axis < 0 ? 1 : t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = axis < 0 ? 1 : t.shape[axis];
  for (let i = 0; i < n; i++) {
    const c = axis < 0 ? 0 : Math.floor(i / inner) % dim;
    raw[i] = (raw[i] - (q.zeroPoint[c] ?? 0)) * q.scale[c];
  }
  return raw;
}

/** OHWI (TFLite conv) → HWIO (Keras). */
function ohwiToHwio(data: Float32Array, [o, h, w, i]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let b = 0; b < i; b++) out[((y * w + x) * i + b) * o + a] = data[((a * h + y) * w + x) * i + b];
  return out;
}

/** Maps an ImageNet MobileNetV2 TFLite graph onto Keras names by the order of its convolutions. */
export function weightsFromTflite(model: TfliteModel, source: string): { weights: NamedWeights; floatScaling: FloatScaling } {
  const convs = model.operators.filter((o) => o.op === 'CONV_2D' || o.op === 'DEPTHWISE_CONV_2D');
  const fcs = model.operators.filter((o) => o.op === 'FULLY_CONNECTED');
  const names = mobilenetConvOrder();
  if (convs.length < names.length) {
    throw new UserError(`${source}: ${convs.length} convolutions, MobileNetV2 has ${names.length}; pass a MobileNetV2 1.0 .tflite`);
  }
  const weights: NamedWeights = new Map();
  names.forEach((name, k) => {
    const op = convs[k];
    const wt = model.tensors[op.inputs[1]];
    const bt = op.inputs[2] !== undefined && op.inputs[2] >= 0 ? model.tensors[op.inputs[2]] : undefined;
    const w = dequantizeTensor(model, wt);
    const [o, h, ww, i] = wt.shape;
    if (op.op === 'CONV_2D') {
      weights.set(`${name}/kernel`, { shape: [h, ww, i, o], data: ohwiToHwio(w, wt.shape) });
    } else {
      weights.set(`${name}/depthwise_kernel`, { shape: [wt.shape[1], wt.shape[2], wt.shape[3], 1], data: w });
    }
    const outC = op.op === 'CONV_2D' ? o : wt.shape[3];
    weights.set(`${name}/bias`, { shape: [outC], data: bt ? dequantizeTensor(model, bt) : new Float32Array(outC) });
  });
  // The ImageNet logits: a 1×1 CONV_2D (TF1 slim) or a FULLY_CONNECTED (TF2 Keras).
  const logits = convs[names.length] ?? fcs[0];
  if (logits) {
    const wt = model.tensors[logits.inputs[1]];
    const w = dequantizeTensor(model, wt);
    const units = wt.shape[0];
    const inDim = wt.shape[wt.shape.length - 1];
    const kernel = new Float32Array(inDim * units);
    for (let u = 0; u < units; u++) for (let j = 0; j < inDim; j++) kernel[j * units + u] = w[u * inDim + j];
    weights.set('predictions/kernel', { shape: [inDim, units], data: kernel });
    const bt = logits.inputs[2] >= 0 ? model.tensors[logits.inputs[2]] : undefined;
    weights.set('predictions/bias', { shape: [units], data: bt ? dequantizeTensor(model, bt) : new Float32Array(units) });
  }
  const input = model.tensors[model.inputs[0]];
  let floatScaling = SCALING_MINUS1_1;
  const q = input.quantization;
  if ((input.type === 'uint8' || input.type === 'int8') && q && q.scale.length) {
    // real = (q − zp)·s with q = p (uint8) or q = p − 128 (int8).
    const shift = input.type === 'int8' ? 128 : 0;
    floatScaling = { scale: q.scale[0], offset: -(shift + q.zeroPoint[0]) * q.scale[0] };
  }
  return { weights, floatScaling };
}

async function loadTflite(path: string): Promise<LoadedBackbone> {
  const bytes = new Uint8Array(await readFile(path));
  let model: TfliteModel;
  try {
    model = readTflite(bytes, path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: not a readable .tflite (${(e as Error).message}); pass an ImageNet MobileNetV2 .tflite`);
  }
  const { weights, floatScaling } = weightsFromTflite(model, path);
  return { kind: 'tflite', source: resolve(path), sha256: sha256Hex(bytes), floatScaling, fallback: false, weights };
}

// ---- Keras .h5 ----------------------------------------------------------------------------------

interface H5Node {
  keys?: string[];
  attrs: Record<string, unknown>;
  get(path: string): H5Node | null;
  value?: ArrayLike<number>;
  shape?: number[];
  dtype?: unknown;
  chunks?: unknown;
  /** jsfive internals, used only by contiguousFloat32. */
  _dataobjects?: {
    find_msg_type(type: number): Array<Map<string, number>>;
    _get_data_message_properties(offset: number): [number, number, number, number];
  };
}

const DATA_LAYOUT_MESSAGE = 8;

/**
 * A contiguous little-endian float32 dataset straight from the file's bytes. jsfive's `value` reads
 * element by element through a getter (about 1 s for MobileNetV2's 3.5 M weights); this is a copy.
 * It uses jsfive internals, so anything unexpected returns undefined and the caller uses `value`.
 */
function contiguousFloat32(ds: H5Node, bytes: Uint8Array, count: number): Float32Array | undefined {
  try {
    if (ds.dtype !== '<f4' || ds.chunks || !ds._dataobjects) return undefined;
    const layout = ds._dataobjects.find_msg_type(DATA_LAYOUT_MESSAGE)[0];
    const [, , layoutClass, propertyOffset] = ds._dataobjects._get_data_message_properties(layout.get('offset_to_message')!);
    if (layoutClass !== 1) return undefined;
    const at = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(propertyOffset, true));
    if (!Number.isSafeInteger(at) || at + count * 4 > bytes.byteLength) return undefined;
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(bytes.subarray(at, at + count * 4));
    return out;
  } catch {
    return undefined;
  }
}

/** The weights of a Keras `.h5` as stored (`layer/role`, BN not folded); `path` names it in errors. */
export async function readKerasH5(bytes: Uint8Array, path: string): Promise<NamedWeights> {
  const jsfive = (await import('jsfive')) as unknown as { File: new (buf: ArrayBuffer, name: string) => H5Node };
  let file: H5Node;
  try {
    file = new jsfive.File(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, basename(path));
  } catch (e) {
    // jsfive throws strings as well as Errors.
    throw new UserError(`${path}: not a readable HDF5 file (${e instanceof Error ? e.message : String(e)}); pass a Keras MobileNetV2 weights .h5`);
  }
  const root = file.keys?.includes('model_weights') ? file.get('model_weights')! : file;
  // Keras writes these lists as fixed-length byte strings, which jsfive returns with their NUL padding.
  const names = (v: unknown) => (v as string[] | undefined)?.map((n) => n.replace(/\0+$/, ''));
  const layerNames = names(root.attrs.layer_names) ?? root.keys ?? [];
  const raw: NamedWeights = new Map();
  for (const layer of layerNames) {
    const g = root.get(layer);
    if (!g) continue;
    // keras-applications (2018) named the ImageNet classifier `Logits`; Keras today names it `predictions`.
    const name = layer === 'Logits' ? 'predictions' : layer;
    const weightNames = names(g.attrs.weight_names) ?? [];
    for (const wn of weightNames) {
      const ds = g.get(wn);
      if (!ds || !ds.shape) continue;
      const count = ds.shape.reduce((a, b) => a * b, 1);
      const data = contiguousFloat32(ds, bytes, count) ?? (ds.value ? Float32Array.from(ds.value) : undefined);
      if (!data) continue;
      const parts = wn.replace(/:0$/, '').split('/');
      raw.set(`${name}/${parts[parts.length - 1]}`, { shape: ds.shape.slice(), data });
    }
  }
  if (!raw.size) throw new UserError(`${path}: no Keras layer weights found; pass a keras.applications.MobileNetV2 weights .h5 (Keras 2 format)`);
  return raw;
}

export async function loadH5(path: string): Promise<LoadedBackbone> {
  const bytes = new Uint8Array(await readFile(path));
  const raw = await readKerasH5(bytes, path);
  return { kind: 'h5', source: resolve(path), sha256: sha256Hex(bytes), floatScaling: SCALING_MINUS1_1, fallback: false, weights: foldBatchNorm(raw, 1e-3) };
}

async function loadPath(spec: string): Promise<LoadedBackbone> {
  const path = resolve(spec);
  if (!existsSync(path)) {
    throw new UserError(`--backbone ${spec} does not exist; pass imagenet, a tfjs folder, a .tflite, a Keras .h5, or nsfwjs`);
  }
  if (statSync(path).isDirectory() || path.endsWith('.json')) return loadTfjsFolder(path);
  if (path.endsWith('.tflite')) return loadTflite(path);
  if (path.endsWith('.h5') || path.endsWith('.hdf5')) return loadH5(path);
  throw new UserError(`--backbone ${spec}: unknown kind; pass imagenet, a tfjs folder (model.json), a .tflite, a Keras .h5, or nsfwjs`);
}

/**
 * Resolves `--backbone` and loads it: undefined or 'imagenet' → cache, ../shared, download, else the
 * nsfwjs fallback (backbone-cache.ts); 'nsfwjs' → the fallback; anything else is a path. A file
 * fetched by `plastisort backbone fetch` must still have the SHA-256 recorded when it was checked.
 */
export async function loadBackbone(spec?: string, env: BackboneEnv = {}): Promise<LoadedBackbone> {
  if (spec === 'nsfwjs') return { ...(await loadNsfwjs()), origin: { via: 'given' } };
  const resolved = !spec || spec === 'imagenet' ? await resolveImagenet(env) : undefined;
  if (resolved?.spec === 'nsfwjs') return { ...(await loadNsfwjs()), origin: resolved.origin };
  const b = await loadPath(resolved?.spec ?? spec!);
  const record = b.kind === 'h5' ? await readRecord(b.source) : undefined;
  if (record && record.sha256 !== b.sha256) {
    throw new UserError(
      `${b.source}: SHA-256 ${b.sha256} differs from ${record.sha256} recorded when it was downloaded and checked; ` +
        `delete it and run ${FETCH_COMMAND}`,
    );
  }
  const origin: BackboneOrigin = resolved?.origin ?? { via: 'given' };
  return { ...b, origin: record ? { ...origin, url: record.url, fetchedAt: record.fetchedAt, checks: record.checks } : origin };
}

export function describeBackbone(b: BackboneInfo): string {
  return `${b.kind} ${b.source} (sha256 ${b.sha256.slice(0, 12)}…, input x = p·${b.floatScaling.scale.toPrecision(6)} + ${b.floatScaling.offset})`;
}
