import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadImageRgb } from '../../host/data/images.ts';
import { argmax } from '../../host/shared/metrics.ts';
import { loadTflitePredictor } from '../../host/eval/tflite-predictor.ts';

const dir = join(import.meta.dirname, '../../../shared/backbones/mobilenet_v2_1.0_224_imagenet');
const present = existsSync(join(dir, 'tflite'));
if (!present) console.warn(`SKIPPED tflite-predictor ImageNet check: ${dir} is absent`);

describe.skipIf(!present)('loadTflitePredictor on the official quantized ImageNet MobileNetV2', () => {
  it('classifies hot_dog.jpg as hotdog with dequantized probabilities', async () => {
    const labels = readFileSync(join(dir, 'imagenet_labels.txt'), 'utf8').trim().split('\n');
    const p = await loadTflitePredictor(join(dir, 'tflite/tf2_mobilenet_v2_1.0_224_ptq.tflite'), {
      labels,
      resize: 'center-crop',
    });
    try {
      expect(p.inputSize).toBe(224);
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
      const img = await loadImageRgb(join(dir, 'samples/hot_dog.jpg'), p.inputSize, p.resize);
      const [scores] = await p.predict([img]);
      const [raw] = await p.predictRaw([img]);
      expect(labels[argmax(scores!)]).toMatch(/^hotdog/);
      const sum = scores!.reduce((s, v) => s + v, 0);
      // 1001 probabilities each rounded to a 1/256 step: the dequantized sum is near, not at, 1
      expect(sum).toBeGreaterThan(0.75);
      expect(sum).toBeLessThan(1.1);
      expect(argmax(raw!)).toBe(argmax(scores!));
    } finally {
      p.dispose();
    }
  });

  it('refuses a model without labels', async () => {
    await expect(loadTflitePredictor(join(dir, 'tflite/mobilenet_v2_1.0_224_quant.tflite'))).rejects.toThrow(/no plastisort metadata/);
  });
});
