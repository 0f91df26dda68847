/**
 * MobileNetV2 (alpha 1.0) rebuilt with the tfjs layers API under Keras layer names, for any square
 * input from 96 to 224: every weight shape is independent of the input size, so one set of weights
 * serves all sizes.
 *
 * Batch normalization is always folded into the convolutions (kernel · γ/√(σ²+ε), bias β − μ·γ/√(σ²+ε))
 * when weights are loaded, so the model has no `*_BN` layers whatever the source. That is the
 * "frozen statistics" choice for fine-tuning on small data, made structural: there are no batch
 * statistics to drift, training and inference compute the same function, and the quantizer sees the
 * conv+bias form TFLite uses anyway. (The ImageNet tfjs folder in ../shared ships already folded.)
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.ts';

export const MIN_INPUT_SIZE = 96;
export const MAX_INPUT_SIZE = 224;

export const POOL_LAYER = 'global_average_pooling2d';
export const BACKBONE_OUTPUT_LAYER = 'out_relu';

/** [expanded-output filters, stride] for blocks 1..16 (block 0 is `expanded_conv`, 16 filters, no expansion). */
const BLOCKS: Array<[number, number]> = [
  [24, 2], [24, 1],
  [32, 2], [32, 1], [32, 1],
  [64, 2], [64, 1], [64, 1], [64, 1],
  [96, 1], [96, 1], [96, 1],
  [160, 2], [160, 1], [160, 1],
  [320, 1],
];
const EXPANSION = 6;

export function checkInputSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_INPUT_SIZE || size > MAX_INPUT_SIZE) {
    throw new UserError(
      `--input-size ${size} is out of range; MobileNetV2 here takes a whole number from ${MIN_INPUT_SIZE} to ${MAX_INPUT_SIZE} (224 matches the ImageNet weights)`,
    );
  }
}

/** Keras `correct_pad`: the TF 'SAME' padding of a stride-2 3×3 convolution, made explicit. */
function correctPad(size: number): [[number, number], [number, number]] {
  const adjust = 1 - (size % 2);
  return [[1 - adjust, 1], [1 - adjust, 1]];
}

function conv(name: string, filters: number, kernel: number, stride: number, padding: 'same' | 'valid') {
  return tf.layers.conv2d({ name, filters, kernelSize: kernel, strides: stride, padding, useBias: true });
}

function relu6(name: string) {
  return tf.layers.reLU({ name, maxValue: 6 });
}

export interface BuildOptions {
  inputSize: number;
  numClasses: number;
  dropout: number;
}

/**
 * The whole classifier: backbone (conv + bias, ReLU6, Keras names) → global average pooling → dropout
 * → dense softmax named `predictions`.
 */
export function buildMobileNetV2({ inputSize, numClasses, dropout }: BuildOptions): tf.LayersModel {
  checkInputSize(inputSize);
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: 'input_1' });
  let x = tf.layers.zeroPadding2d({ name: 'Conv1_pad', padding: correctPad(inputSize) }).apply(input) as tf.SymbolicTensor;
  x = conv('Conv1', 32, 3, 2, 'valid').apply(x) as tf.SymbolicTensor;
  x = relu6('Conv1_relu').apply(x) as tf.SymbolicTensor;
  // Block 0: depthwise + project only.
  x = tf.layers.depthwiseConv2d({ name: 'expanded_conv_depthwise', kernelSize: 3, padding: 'same', useBias: true }).apply(x) as tf.SymbolicTensor;
  x = relu6('expanded_conv_depthwise_relu').apply(x) as tf.SymbolicTensor;
  x = conv('expanded_conv_project', 16, 1, 1, 'same').apply(x) as tf.SymbolicTensor;
  let channels = 16;
  BLOCKS.forEach(([filters, stride], i) => {
    const id = i + 1;
    const p = `block_${id}_`;
    const blockInput = x;
    let h = conv(`${p}expand`, channels * EXPANSION, 1, 1, 'same').apply(x) as tf.SymbolicTensor;
    h = relu6(`${p}expand_relu`).apply(h) as tf.SymbolicTensor;
    if (stride === 2) {
      h = tf.layers.zeroPadding2d({ name: `${p}pad`, padding: correctPad(h.shape[1] as number) }).apply(h) as tf.SymbolicTensor;
    }
    h = tf.layers
      .depthwiseConv2d({ name: `${p}depthwise`, kernelSize: 3, strides: stride, padding: stride === 1 ? 'same' : 'valid', useBias: true })
      .apply(h) as tf.SymbolicTensor;
    h = relu6(`${p}depthwise_relu`).apply(h) as tf.SymbolicTensor;
    h = conv(`${p}project`, filters, 1, 1, 'same').apply(h) as tf.SymbolicTensor;
    if (stride === 1 && channels === filters) {
      h = tf.layers.add({ name: `${p}add` }).apply([blockInput, h]) as tf.SymbolicTensor;
    }
    channels = filters;
    x = h;
  });
  x = conv('Conv_1', 1280, 1, 1, 'same').apply(x) as tf.SymbolicTensor;
  x = relu6(BACKBONE_OUTPUT_LAYER).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: POOL_LAYER }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ name: 'dropout', rate: dropout }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'predictions', units: numClasses, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'plastisort_mobilenetv2' });
}

/** Keras weight names per layer class, in the order tfjs stores a layer's weights. */
export function weightRoles(layer: tf.layers.Layer): string[] {
  switch (layer.getClassName()) {
    case 'Conv2D':
    case 'Dense':
      return ['kernel', 'bias'];
    case 'DepthwiseConv2D':
      return ['depthwise_kernel', 'bias'];
    default:
      return [];
  }
}

export interface NamedWeight {
  shape: number[];
  data: Float32Array;
}

/** Weights keyed `layer/role` (Keras naming), BN already folded. */
export type NamedWeights = Map<string, NamedWeight>;

/**
 * Sets every backbone weight (and the `predictions` layer when `withHead` and shapes match) from
 * `weights`. A missing or mis-shaped backbone weight is an error naming the weight.
 */
export function applyWeights(model: tf.LayersModel, weights: NamedWeights, source: string, withHead = false): void {
  for (const layer of model.layers) {
    const roles = weightRoles(layer);
    if (!roles.length) continue;
    const isHead = layer.name === 'predictions';
    if (isHead && !withHead) continue;
    const values = roles.map((role, i) => {
      const key = `${layer.name}/${role}`;
      const w = weights.get(key);
      const want = layer.getWeights()[i].shape;
      if (!w) throw new UserError(`${source}: weight ${key} is missing; pass a MobileNetV2 alpha 1.0 backbone`);
      if (w.shape.join(',') !== want.join(',')) {
        throw new UserError(`${source}: weight ${key} has shape [${w.shape}] but MobileNetV2 1.0 needs [${want}]; pass a MobileNetV2 alpha 1.0 backbone`);
      }
      return tf.tensor(w.data, w.shape);
    });
    layer.setWeights(values);
    values.forEach((t) => t.dispose());
  }
}

function bnNameFor(conv: string): string {
  if (conv === 'Conv1') return 'bn_Conv1';
  if (conv === 'Conv_1') return 'Conv_1_bn';
  return `${conv}_BN`;
}

/**
 * Folds `NAME_BN/{gamma,beta,moving_mean,moving_variance}` into `NAME/{kernel|depthwise_kernel,bias}`
 * for every convolution that has them; weights without BN pass through. Output channels are the last
 * kernel axis for Conv2D ([kh,kw,in,out]) and axis 2 for depthwise ([kh,kw,c,1]).
 */
export function foldBatchNorm(raw: NamedWeights, epsilon = 1e-3): NamedWeights {
  const out: NamedWeights = new Map();
  const bnConsumed = new Set<string>();
  for (const [key, w] of raw) {
    const [layer, role] = key.split('/');
    if (role !== 'kernel' && role !== 'depthwise_kernel') continue;
    const bn = bnNameFor(layer);
    const gamma = raw.get(`${bn}/gamma`);
    const beta = raw.get(`${bn}/beta`);
    const mean = raw.get(`${bn}/moving_mean`);
    const variance = raw.get(`${bn}/moving_variance`);
    const bias = raw.get(`${layer}/bias`);
    if (!mean || !variance) {
      out.set(key, w);
      if (bias) out.set(`${layer}/bias`, bias);
      continue;
    }
    for (const r of ['gamma', 'beta', 'moving_mean', 'moving_variance']) bnConsumed.add(`${bn}/${r}`);
    const channels = mean.data.length;
    const scale = new Float32Array(channels);
    for (let c = 0; c < channels; c++) scale[c] = (gamma ? gamma.data[c] : 1) / Math.sqrt(variance.data[c] + epsilon);
    const kernel = new Float32Array(w.data.length);
    if (role === 'kernel') {
      for (let i = 0; i < kernel.length; i++) kernel[i] = w.data[i] * scale[i % channels];
    } else {
      const mult = w.shape[3];
      for (let i = 0; i < kernel.length; i++) kernel[i] = w.data[i] * scale[Math.floor(i / mult) % channels];
    }
    const b = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      b[c] = (beta ? beta.data[c] : 0) + ((bias ? bias.data[c] : 0) - mean.data[c]) * scale[c];
    }
    out.set(key, { shape: w.shape, data: kernel });
    out.set(`${layer}/bias`, { shape: [channels], data: b });
  }
  for (const [key, w] of raw) {
    if (!out.has(key) && !bnConsumed.has(key) && !key.includes('_BN/') && !key.startsWith('bn_Conv1/') && !key.startsWith('Conv_1_bn/')) {
      out.set(key, w);
    }
  }
  return out;
}

/** The model up to and including `layerName`'s output (shares the layers and weights). */
export function truncateAt(model: tf.LayersModel, layerName: string): tf.LayersModel {
  const layer = model.getLayer(layerName);
  return tf.model({ inputs: model.inputs, outputs: layer.getOutputAt(0) as tf.SymbolicTensor });
}

/**
 * The part of `model` after `boundary` (up to `until`, default the output) as a model whose input is `boundary`'s output, sharing the
 * layers (and so the weights) with `model`. Fails when a later layer reads something before the
 * boundary (a residual that crosses it), since then the boundary alone cannot feed the tail.
 */
export function tailFrom(model: tf.LayersModel, boundary: string, until?: string): tf.LayersModel {
  const names = model.layers.map((l) => l.name);
  const bi = names.indexOf(boundary);
  if (bi < 0) throw new UserError(`layer ${boundary} is not in the model`);
  const shape = (model.getLayer(boundary).getOutputAt(0) as tf.SymbolicTensor).shape.slice(1) as number[];
  const input = tf.input({ shape, name: `${boundary}_cached` });
  const symbols = new Map<string, tf.SymbolicTensor>([[boundary, input]]);
  for (const layer of model.layers.slice(bi + 1)) {
    const inbound = layer.inboundNodes[0].inboundLayers.map((l) => l.name);
    const args = inbound.map((n) => {
      const s = symbols.get(n);
      if (!s) {
        throw new UserError(
          `cannot split MobileNetV2 after ${boundary}: layer ${layer.name} also reads ${n}; choose a block's first layer (block_N_expand) to unfreeze from`,
        );
      }
      return s;
    });
    symbols.set(layer.name, layer.apply(args.length === 1 ? args[0] : args) as tf.SymbolicTensor);
    if (layer.name === until) break;
  }
  const last = until ?? model.layers[model.layers.length - 1].name;
  if (!symbols.has(last)) throw new Error(`layer ${last} does not follow ${boundary}`);
  return tf.model({ inputs: input, outputs: symbols.get(last)!, name: `segment_${boundary}_${last}` });
}

/** The layer just before `unfreezeFrom` in build order: the freeze boundary whose output is cached. */
export function boundaryBefore(model: tf.LayersModel, unfreezeFrom: string): string {
  const names = model.layers.map((l) => l.name);
  const i = names.indexOf(unfreezeFrom);
  const choices = names.filter((n) => /^block_\d+_expand$/.test(n) || n === 'Conv_1');
  if (i <= 0 || !choices.includes(unfreezeFrom)) {
    throw new UserError(`--unfreeze-from ${unfreezeFrom} is not a block start of MobileNetV2; use one of ${choices.join(', ')}`);
  }
  return names[i - 1];
}
