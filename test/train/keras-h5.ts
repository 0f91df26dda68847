/**
 * Test helper: writes a Keras 2 weights file (`model.save_weights("x.h5")` layout: root attribute
 * `layer_names`, one group per layer with attribute `weight_names`, datasets at LAYER/WEIGHT_NAME)
 * as a minimal HDF5 file: superblock v0, version-1 object headers, groups as link messages,
 * contiguous little-endian float32 datasets, fixed-length null-padded string attributes (as h5py
 * writes Keras' byte-string lists). It is written for jsfive, the reader backbones.ts uses; libhdf5
 * would also want link-info and group-info messages, which jsfive does not need.
 *
 * Also builds a complete MobileNetV2 1.0 with-top weight set in that layout, from given folded
 * weights (BN set to the identity so folding gives them back) or from a seed.
 */
import { buildMobileNetV2, type NamedWeights } from '../../host/train/mobilenetv2.ts';

export interface H5Weight {
  /** Keras weight name, e.g. `Conv1/kernel:0`. */
  name: string;
  shape: number[];
  data: Float32Array;
}
export interface H5Layer {
  name: string;
  weights: H5Weight[];
}

const UNDEFINED = 0xffffffffffffffffn;

class Writer {
  parts: Uint8Array[] = [];
  offset = 0;
  append(bytes: Uint8Array): number {
    const at = this.offset;
    this.parts.push(bytes);
    this.offset += bytes.length;
    return at;
  }
}

function bytesOf(build: (v: DataView) => void, size: number): Uint8Array {
  const out = new Uint8Array(size);
  build(new DataView(out.buffer));
  return out;
}

const pad8 = (n: number) => Math.ceil(n / 8) * 8;

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** One header message: type, size (padded to 8), flags, then the body. */
function message(type: number, body: Uint8Array): Uint8Array {
  const size = pad8(body.length);
  const out = new Uint8Array(8 + size);
  const v = new DataView(out.buffer);
  v.setUint16(0, type, true);
  v.setUint16(2, size, true);
  out.set(body, 8);
  return out;
}

function objectHeader(messages: Uint8Array[]): Uint8Array {
  const body = concat(messages);
  const prefix = bytesOf((v) => {
    v.setUint8(0, 1);
    v.setUint16(2, messages.length, true);
    v.setUint32(4, 1, true);
    v.setUint32(8, body.length, true);
  }, 16);
  return concat([prefix, body]);
}

function dataspace(dims: number[]): Uint8Array {
  return bytesOf((v) => {
    v.setUint8(0, 1);
    v.setUint8(1, dims.length);
    dims.forEach((d, i) => v.setBigUint64(8 + 8 * i, BigInt(d), true));
  }, 8 + 8 * dims.length);
}

const FLOAT32 = bytesOf((v) => {
  v.setUint8(0, 0x11); // version 1, class 1 (floating point)
  v.setUint8(1, 0x20); // little-endian, implied leading mantissa bit
  v.setUint8(2, 31); // sign bit position
  v.setUint32(4, 4, true);
  v.setUint16(8, 0, true);
  v.setUint16(10, 32, true);
  v.setUint8(12, 23);
  v.setUint8(13, 8);
  v.setUint8(14, 0);
  v.setUint8(15, 23);
  v.setUint32(16, 127, true);
}, 20);

function stringType(length: number): Uint8Array {
  return bytesOf((v) => {
    v.setUint8(0, 0x13); // version 1, class 3 (string)
    v.setUint8(1, 0x01); // null-padded, ASCII
    v.setUint32(4, length, true);
  }, 8);
}

function link(name: string, address: number): Uint8Array {
  const n = new TextEncoder().encode(name);
  if (n.length > 255) throw new Error(`link name too long: ${name}`);
  const out = new Uint8Array(3 + n.length + 8);
  out[0] = 1;
  out[1] = 0; // 1-byte name length, hard link
  out[2] = n.length;
  out.set(n, 3);
  new DataView(out.buffer).setBigUint64(3 + n.length, BigInt(address), true);
  return message(6, out);
}

/** A string or list-of-strings attribute, fixed length and null-padded like numpy `S` arrays. */
function stringAttribute(name: string, value: string | string[]): Uint8Array {
  const list = typeof value === 'string' ? [value] : value;
  const encoded = list.map((s) => new TextEncoder().encode(s));
  const width = Math.max(1, ...encoded.map((e) => e.length));
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const type = stringType(width);
  const space = dataspace(typeof value === 'string' ? [] : [list.length]);
  const data = new Uint8Array(width * list.length);
  encoded.forEach((e, i) => data.set(e, i * width));
  const head = bytesOf((v) => {
    v.setUint8(0, 1);
    v.setUint16(2, nameBytes.length, true);
    v.setUint16(4, type.length, true);
    v.setUint16(6, space.length, true);
  }, 8);
  const padded = (b: Uint8Array) => concat([b, new Uint8Array(pad8(b.length) - b.length)]);
  return message(12, concat([head, padded(nameBytes), padded(type), padded(space), data]));
}

function dataset(w: Writer, values: Float32Array, shape: number[]): number {
  const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const at = w.append(new Uint8Array(raw)); // float32 is little-endian on every platform Node runs on here
  const layout = bytesOf((v) => {
    v.setUint8(0, 3); // version 3
    v.setUint8(1, 1); // contiguous
    v.setBigUint64(2, BigInt(at), true);
    v.setBigUint64(10, BigInt(raw.length), true);
  }, 18);
  return w.append(objectHeader([message(1, dataspace(shape)), message(3, FLOAT32), message(8, layout)]));
}

function group(w: Writer, links: Array<[string, number]>, attributes: Uint8Array[] = []): number {
  return w.append(objectHeader([...attributes, ...links.map(([n, a]) => link(n, a))]));
}

/** The bytes of a Keras weights `.h5` holding `layers` (in that order in `layer_names`). */
export function writeKerasWeightsH5(layers: H5Layer[]): Uint8Array {
  const w = new Writer();
  w.append(new Uint8Array(96)); // superblock + root symbol table entry, filled in below
  const layerLinks: Array<[string, number]> = [];
  for (const layer of layers) {
    // `Conv1/kernel:0` lives at LAYER/Conv1/kernel:0: one subgroup per weight-name prefix.
    const sub = new Map<string, Array<[string, number]>>();
    for (const wt of layer.weights) {
      const [prefix, leaf] = wt.name.split('/');
      if (!sub.has(prefix)) sub.set(prefix, []);
      sub.get(prefix)!.push([leaf, dataset(w, wt.data, wt.shape)]);
    }
    const subLinks: Array<[string, number]> = [...sub].map(([prefix, links]) => [prefix, group(w, links)]);
    layerLinks.push([layer.name, group(w, subLinks, [stringAttribute('weight_names', layer.weights.map((x) => x.name))])]);
  }
  const root = group(w, layerLinks, [
    stringAttribute('layer_names', layers.map((l) => l.name)),
    stringAttribute('backend', 'tensorflow'),
    stringAttribute('keras_version', '2.1.6'),
  ]);
  const head = bytesOf((v) => {
    [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a].forEach((b, i) => v.setUint8(i, b));
    v.setUint8(13, 8); // size of offsets
    v.setUint8(14, 8); // size of lengths
    v.setUint16(16, 4, true); // group leaf node K
    v.setUint16(18, 16, true); // group internal node K
    v.setBigUint64(24, 0n, true); // base address
    v.setBigUint64(32, UNDEFINED, true); // free-space info
    v.setBigUint64(40, BigInt(w.offset), true); // end of file
    v.setBigUint64(48, UNDEFINED, true); // driver info
    v.setBigUint64(56, 0n, true); // root entry: link name offset
    v.setBigUint64(64, BigInt(root), true); // root entry: object header address
  }, 96);
  w.parts[0] = head;
  return concat(w.parts);
}

/** Keras' batch-norm layer name for a convolution. */
function bnOf(conv: string): string {
  if (conv === 'Conv1') return 'bn_Conv1';
  if (conv === 'Conv_1') return 'Conv_1_bn';
  return `${conv}_BN`;
}

/**
 * The layers of a with-top keras.applications.MobileNetV2 (1000 classes) weights file. `folded`
 * gives conv kernels and biases (BN already folded, as in the ../shared tfjs folder); each BN layer
 * is then written as the identity plus that bias. Without `folded`, weights come from `seed`.
 */
export function mobilenetV2KerasLayers(folded?: NamedWeights, seed = 1, topName = 'predictions'): H5Layer[] {
  const model = buildMobileNetV2({ inputSize: 96, numClasses: 1000, dropout: 0 });
  let state = seed >>> 0 || 1;
  const random = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return (state / 2 ** 32 - 0.5) * 2 * scale;
    });
  const layers: H5Layer[] = [{ name: 'input_1', weights: [] }];
  const eps = 1e-3;
  for (const layer of model.layers) {
    const vars = layer.getWeights();
    if (!vars.length || layer.name === 'input_1') continue;
    const kernelShape = vars[0].shape;
    const role = layer.getClassName() === 'DepthwiseConv2D' ? 'depthwise_kernel' : 'kernel';
    const kernel = folded?.get(`${layer.name}/${role}`)?.data ?? random(kernelShape.reduce((a, b) => a * b, 1), 0.1);
    const channels = vars[1].shape[0];
    const bias = folded?.get(`${layer.name}/bias`)?.data ?? random(channels, 0.05);
    if (layer.name === 'predictions') {
      layers.push({ name: topName, weights: [
        { name: `${topName}/kernel:0`, shape: kernelShape, data: kernel },
        { name: `${topName}/bias:0`, shape: [channels], data: bias },
      ] });
      continue;
    }
    layers.push({ name: layer.name, weights: [{ name: `${layer.name}/${role}:0`, shape: kernelShape, data: kernel }] });
    const bn = bnOf(layer.name);
    layers.push({ name: bn, weights: [
      { name: `${bn}/gamma:0`, shape: [channels], data: new Float32Array(channels).fill(1) },
      { name: `${bn}/beta:0`, shape: [channels], data: bias },
      { name: `${bn}/moving_mean:0`, shape: [channels], data: new Float32Array(channels) },
      // variance + eps = 1: the folded scale is exactly 1 and the folded bias is beta.
      { name: `${bn}/moving_variance:0`, shape: [channels], data: new Float32Array(channels).fill(1 - eps) },
    ] });
  }
  model.dispose();
  return layers;
}
