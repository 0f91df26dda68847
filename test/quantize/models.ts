/** Small tfjs classifiers built in the tests: every layer type the lowering supports. */
import * as tf from '@tensorflow/tfjs';

/** Deterministic pseudo-random numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Gives every BatchNormalization non-trivial statistics so that folding is actually exercised. */
export function randomiseBatchNorms(model: tf.LayersModel, seed: number): void {
  const r = rng(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w) => {
        const n = w.size;
        const name = layer.weights[layer.getWeights().indexOf(w)]!.name;
        const vals = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          if (name.includes('gamma')) vals[i] = 0.5 + r();
          else if (name.includes('beta')) vals[i] = r() - 0.5;
          else if (name.includes('moving_mean')) vals[i] = (r() - 0.5) * 0.4;
          else vals[i] = 0.5 + 1.5 * r();
        }
        return tf.tensor(vals, w.shape);
      }),
    );
  }
}

export interface TinyOptions {
  size: number;
  batchNorm: boolean;
  classes?: number;
  /** Keras MobileNetV2's stem: ZeroPadding2D ((0,1),(0,1)) then a VALID stride-2 conv. */
  padStem?: boolean;
  seed?: number;
}

/**
 * A MobileNetV2-like classifier: stem conv stride 2, inverted residual (expand, depthwise, project, add),
 * a stride-2 depthwise, ReLU6 and plain ReLU, global average pooling, dropout, dense softmax.
 */
export function tinyClassifier(o: TinyOptions): tf.LayersModel {
  const seed = o.seed ?? 1;
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 100 + k });
  const bias = (k: number) => tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: seed * 100 + 50 + k });
  const bn = (x: tf.SymbolicTensor, name: string) =>
    o.batchNorm ? (tf.layers.batchNormalization({ name, epsilon: 1e-3 }).apply(x) as tf.SymbolicTensor) : x;
  const input = tf.input({ shape: [o.size, o.size, 3], name: 'input_1' });
  let x: tf.SymbolicTensor = input;
  if (o.padStem ?? true) {
    x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'Conv1_pad' }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: (o.padStem ?? true) ? 'valid' : 'same', useBias: !o.batchNorm, kernelInitializer: init(1), biasInitializer: bias(1), name: 'Conv1' }).apply(x) as tf.SymbolicTensor;
  x = bn(x, 'bn_Conv1');
  x = tf.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }).apply(x) as tf.SymbolicTensor;
  const shortcut = x;
  let y = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: !o.batchNorm, kernelInitializer: init(2), biasInitializer: bias(2), name: 'block_1_expand' }).apply(x) as tf.SymbolicTensor;
  y = bn(y, 'block_1_expand_BN');
  y = tf.layers.reLU({ maxValue: 6, name: 'block_1_expand_relu' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: !o.batchNorm, depthwiseInitializer: init(3), biasInitializer: bias(3), name: 'block_1_depthwise' }).apply(y) as tf.SymbolicTensor;
  y = bn(y, 'block_1_depthwise_BN');
  y = tf.layers.reLU({ maxValue: 6, name: 'block_1_depthwise_relu' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: !o.batchNorm, kernelInitializer: init(4), biasInitializer: bias(4), name: 'block_1_project' }).apply(y) as tf.SymbolicTensor;
  y = bn(y, 'block_1_project_BN');
  x = tf.layers.add({ name: 'block_1_add' }).apply([shortcut, y]) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, depthwiseInitializer: init(5), biasInitializer: bias(5), useBias: true, name: 'block_2_depthwise' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'block_2_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 12, kernelSize: 1, activation: 'relu6', kernelInitializer: init(6), biasInitializer: bias(6), name: 'Conv_1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.3, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
  // A wide head init spreads the class probabilities, so that top-1 comparisons are not all near-ties.
  const out = tf.layers.dense({ units: o.classes ?? 4, activation: 'softmax', kernelInitializer: tf.initializers.randomUniform({ minval: -2, maxval: 2, seed: seed * 100 + 7 }), biasInitializer: bias(7), name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  if (o.batchNorm) randomiseBatchNorms(model, seed + 7);
  return model;
}

/** Random RGB888 images with some spatial structure (smooth gradients plus noise), `size×size×3` bytes each. */
export function randomImages(n: number, size: number, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const img = new Uint8Array(size * size * 3);
    const a = [r(), r(), r()].map((v) => v * 255);
    const gx = [r(), r(), r()].map((v) => (v - 0.5) * 20);
    const gy = [r(), r(), r()].map((v) => (v - 0.5) * 20);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          const v = a[c]! + gx[c]! * x + gy[c]! * y + (r() - 0.5) * 60;
          img[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
    out.push(img);
  }
  return out;
}
