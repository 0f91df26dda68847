/**
 * Anything that classifies images: a trained float run (train/), a `.tflite` through LiteRT
 * (eval/tflite-predictor.ts), a device or the simulator over serial (link/, hil/). Evaluation, HIL and the
 * report compare predictors on the same manifest split.
 */
export interface Predictor {
  /** Class names in output order. */
  readonly classes: string[];
  /** Square input side in pixels. */
  readonly inputSize: number;
  readonly resize: 'squash' | 'center-crop';
  /**
   * Class probabilities for a batch of RGB888 images (HWC, inputSize × inputSize × 3 bytes each, as
   * returned by data/images.ts `loadImageRgb`). Each predictor applies its own input scaling.
   */
  predict(images: Uint8Array[]): Promise<Float32Array[]>;
  dispose?(): void | Promise<void>;
}
