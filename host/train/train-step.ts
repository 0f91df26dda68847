/**
 * The loss and the gradient of one shard of a training batch. Written as one self-contained function of
 * the tfjs namespace it is given (it refers to nothing else of this module), so that the training
 * workers of parallel-fit.ts rebuild it from its source text in their own tfjs instance and compute
 * exactly the same loss as the main thread.
 */
import * as tf from '@tensorflow/tfjs';

export interface ShardResult {
  /** Mean loss over the shard. */
  loss: number;
  /** Softmax outputs, row-major [rows, numClasses]. */
  probs: Float32Array;
  /** d(mean shard loss)/d(var), in the order of `vars`; the caller disposes them. */
  grads: tf.Tensor[];
}

export function defineTrainStep(tfjs: typeof tf) {
  /**
   * Cross-entropy of softmax outputs against integer labels (or, when given, soft targets [rows,
   * numClasses], e.g. mixup's blend of two labels), with optional label smoothing, averaged over rows.
   */
  function crossEntropy(probs: tf.Tensor, labels: tf.Tensor1D, numClasses: number, smoothing: number, soft?: tf.Tensor): tf.Scalar {
    return tfjs.tidy(() => {
      let target = soft ?? tfjs.oneHot(labels, numClasses).toFloat();
      if (smoothing > 0) target = target.mul(1 - smoothing).add(smoothing / numClasses);
      return tfjs.neg(tfjs.mean(tfjs.sum(tfjs.mul(target, tfjs.log(tfjs.clipByValue(probs, 1e-7, 1))), -1))) as tf.Scalar;
    });
  }

  /**
   * Runs `fn` with every Dropout layer of `model` drawing its mask from `seed`. tfjs-layers passes a
   * Dropout layer's `seed` to tf.dropout on each call, but never changes it, so one fixed seed would give
   * every step the same mask; a seed per step makes training reproducible and keeps the masks varied.
   * The layer's own seed is put back afterwards so that saved models do not carry a step's seed.
   */
  function withDropoutSeed<T>(model: tf.LayersModel, seed: number | undefined, fn: () => T): T {
    if (seed === undefined) return fn();
    const layers = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>;
    const saved = layers.map((l) => l.seed);
    layers.forEach((l) => (l.seed = seed));
    try {
      return fn();
    } finally {
      layers.forEach((l, i) => (l.seed = saved[i]));
    }
  }

  /** Forward (training mode: dropout active, masks from `dropoutSeed` when given) and backward pass of `model` on one shard. */
  function shardGradients(
    model: tf.LayersModel,
    vars: tf.Variable[],
    x: tf.Tensor,
    labels: ArrayLike<number>,
    numClasses: number,
    smoothing: number,
    dropoutSeed?: number,
    targets?: ArrayLike<number>,
  ): ShardResult {
    // One-hot encoding would silently turn a bad label into an all-zero target.
    for (let i = 0; i < labels.length; i++) {
      if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= numClasses) {
        throw new Error(`label ${labels[i]} of row ${i} is not a class index in [0, ${numClasses})`);
      }
    }
    if (targets && targets.length !== labels.length * numClasses) {
      throw new Error(`${targets.length} soft targets for ${labels.length} rows of ${numClasses} classes`);
    }
    const y = tfjs.tensor1d(Array.from(labels), 'int32');
    const soft = targets ? tfjs.tensor2d(Array.from(targets), [labels.length, numClasses]) : undefined;
    let probs: Float32Array | undefined;
    let value: tf.Scalar;
    let grads: tf.NamedTensorMap;
    try {
      ({ value, grads } = withDropoutSeed(model, dropoutSeed, () =>
        tfjs.variableGrads(() => {
          const p = model.apply(x, { training: true }) as tf.Tensor;
          probs = p.dataSync() as Float32Array;
          return crossEntropy(p, y, numClasses, smoothing, soft);
        }, vars),
      ));
    } finally {
      y.dispose();
      soft?.dispose();
    }
    const loss = value.dataSync()[0];
    value.dispose();
    return { loss, probs: probs!, grads: vars.map((v) => grads[v.name]) };
  }

  return { crossEntropy, shardGradients };
}

export const { crossEntropy, shardGradients } = defineTrainStep(tf);
