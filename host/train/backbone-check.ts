/**
 * The checks a downloaded Keras MobileNetV2 `.h5` must pass before it is cached: it is readable in the
 * Keras layout and holds every MobileNetV2 1.0 weight in the right shape (structure), and, for the
 * with-top file where the sample photo exists, it classifies `samples/hot_dog.jpg` as "hotdog".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { loadImageRgb } from '../data/images.ts';
import { initBackend } from './backend.ts';
import { loadH5, SCALING_MINUS1_1 } from './backbones.ts';
import { applyWeights, buildMobileNetV2 } from './mobilenetv2.ts';
import { toInputTensor } from './run-folder.ts';

/** Keras' ImageNet classifier has 1000 classes; the labels in ../shared have 1001 (line 0 = background). */
export const KERAS_IMAGENET_CLASSES = 1000;

export interface CheckResults {
  structure: string;
  knownImage: string;
}

/**
 * Throws (message names what failed) unless the file passes. `sharedImagenet` is the folder holding
 * `samples/hot_dog.jpg` and `imagenet_labels.txt`; without it the known-image check is skipped, and
 * the result says so.
 */
export async function checkKerasImagenetH5(path: string, sharedImagenet: string | undefined): Promise<CheckResults> {
  await initBackend();
  const b = await loadH5(path);
  const head = b.weights.get('predictions/kernel');
  const withTop = head !== undefined;
  if (withTop && head.shape[1] !== KERAS_IMAGENET_CLASSES) {
    throw new Error(`its classifier has ${head.shape[1]} classes, the Keras ImageNet one has ${KERAS_IMAGENET_CLASSES}`);
  }
  const model = buildMobileNetV2({ inputSize: 224, numClasses: withTop ? KERAS_IMAGENET_CLASSES : 2, dropout: 0 });
  try {
    applyWeights(model, b.weights, path, withTop);
    const structure = `passed: all MobileNetV2 1.0 weights${withTop ? ' and the 1000-class classifier' : ''} present, shapes match`;
    if (!withTop) return { structure, knownImage: 'skipped: a no-top file has no ImageNet classifier' };
    const sample = sharedImagenet ? join(sharedImagenet, 'samples', 'hot_dog.jpg') : undefined;
    const labelsPath = sharedImagenet ? join(sharedImagenet, 'imagenet_labels.txt') : undefined;
    if (!sample || !labelsPath || !existsSync(sample) || !existsSync(labelsPath)) {
      return { structure, knownImage: 'skipped: samples/hot_dog.jpg (../shared/backbones/mobilenet_v2_1.0_224_imagenet) is absent on this machine' };
    }
    const labels = readFileSync(labelsPath, 'utf8').split('\n');
    // Keras class i is label line i + 1 when the file starts with "background" (the tfjs/tflite 1001-class order).
    const offset = labels[0].trim() === 'background' ? 1 : 0;
    const rgb = await loadImageRgb(sample, 224, 'squash');
    const p = model.predict(toInputTensor([rgb], 224, SCALING_MINUS1_1)) as tf.Tensor;
    const probs = p.dataSync();
    p.dispose();
    let best = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
    const label = labels[best + offset] ?? `class ${best}`;
    if (!/^hotdog\b/.test(label)) throw new Error(`known-image check failed: hot_dog.jpg classified as "${label}", not "hotdog"`);
    return { structure, knownImage: `passed: hot_dog.jpg → "${label.split(',')[0]}" (p = ${probs[best].toFixed(3)})` };
  } finally {
    model.dispose();
  }
}
