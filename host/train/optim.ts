/**
 * The fine-tuning optimizer: Adam with decoupled weight decay (AdamW, Loshchilov & Hutter), a learning
 * rate per variable (layer-wise decay: layers further from the head move less, so the ImageNet features
 * they hold survive small data), and a warm-up + cosine schedule over the run's steps.
 *
 * tf.train.adam cannot do layer-wise rates: Adam's step is invariant to a gradient's scale, so scaling
 * gradients per layer changes nothing. Hence this small optimizer of its own; it takes the same
 * `applyGradients(NamedTensorMap)` call as a tf.Optimizer, so parallel-fit.ts drives either.
 */
import * as tf from '@tensorflow/tfjs';

/** What the training loops need of an optimizer: tf.train.adam and AdamW both fit. */
export interface StepOptimizer {
  applyGradients(grads: Parameters<tf.Optimizer['applyGradients']>[0]): void;
  dispose(): void;
}

export interface LrSchedule {
  kind: 'constant' | 'cosine';
  /** Steps of linear warm-up from 0 (the first step uses 1/warmupSteps of the rate). */
  warmupSteps: number;
  /** Steps of the whole run; cosine decays from the peak after warm-up to `minFactor` of it at the last step. */
  totalSteps: number;
  minFactor: number;
}

/** Multiplier of the peak learning rate at 0-based `step`. */
export function lrFactor(step: number, s: LrSchedule): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (step + 1) / s.warmupSteps;
  if (s.kind === 'constant') return 1;
  const span = Math.max(1, s.totalSteps - s.warmupSteps - 1);
  const t = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  return s.minFactor + (1 - s.minFactor) * 0.5 * (1 + Math.cos(Math.PI * t));
}

/**
 * Depth of a MobileNetV2 layer counted from the input: `expanded_conv` 0, `block_N_*` N, `Conv_1` 17,
 * the head (`predictions`) 18; undefined for other names.
 */
export function layerDepth(layerName: string): number | undefined {
  if (layerName.startsWith('expanded_conv')) return 0;
  const m = /^block_(\d+)_/.exec(layerName);
  if (m) return Number(m[1]);
  if (layerName.startsWith('Conv_1')) return 17;
  if (layerName.startsWith('predictions')) return 18;
  return undefined;
}

/**
 * Learning-rate multiplier per weight name (`layer/kernel`): `decay`^(head depth − layer depth), so the
 * head trains at the full rate, `Conv_1` at `decay`, block 16 at `decay`², and so on. Names without a
 * MobileNetV2 depth get 1.
 */
export function layerwiseScales(names: string[], decay: number): number[] {
  const depths = names.map((n) => layerDepth(n.split('/')[0]!));
  const top = Math.max(...depths.map((d) => d ?? -Infinity));
  return depths.map((d) => (d === undefined || !Number.isFinite(top) ? 1 : decay ** (top - d)));
}

/** Kernels decay, biases do not (the usual AdamW choice: a bias has no scale to keep small). */
export function decays(name: string): boolean {
  return /kernel$/.test(name);
}

export interface AdamWOptions {
  learningRate: number;
  weightDecay: number;
  /** Multiplier of the learning rate per variable, in the order of `vars` (default all 1). */
  scales?: number[];
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class AdamW implements StepOptimizer {
  /** Current rate; the training loop sets it from the schedule before each step. */
  learningRate: number;
  readonly weightDecay: number;
  private t = 0;
  private readonly slots: Map<string, { v: tf.Variable; m: tf.Variable; s: tf.Variable; scale: number; decay: boolean }>;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(vars: Array<{ variable: tf.Variable; name: string }>, o: AdamWOptions) {
    this.learningRate = o.learningRate;
    this.weightDecay = o.weightDecay;
    this.b1 = o.beta1 ?? 0.9;
    this.b2 = o.beta2 ?? 0.999;
    this.eps = o.epsilon ?? 1e-7;
    this.slots = new Map(
      vars.map(({ variable, name }, i) => [
        variable.name,
        {
          v: variable,
          m: tf.variable(tf.zerosLike(variable), false),
          s: tf.variable(tf.zerosLike(variable), false),
          scale: o.scales?.[i] ?? 1,
          decay: decays(name),
        },
      ]),
    );
  }

  applyGradients(grads: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    tf.tidy(() => {
      const list = Array.isArray(grads) ? grads.map((g) => [g.name, g.tensor] as const) : Object.entries(grads);
      for (const [name, g] of list) {
        const slot = this.slots.get(name);
        if (!slot || !g) continue;
        const lr = this.learningRate * slot.scale;
        slot.m.assign(slot.m.mul(this.b1).add(g.mul(1 - this.b1)));
        slot.s.assign(slot.s.mul(this.b2).add(g.square().mul(1 - this.b2)));
        let update = slot.m.div(c1).div(slot.s.div(c2).sqrt().add(this.eps));
        if (slot.decay && this.weightDecay > 0) update = update.add(slot.v.mul(this.weightDecay));
        slot.v.assign(slot.v.sub(update.mul(lr)));
      }
    });
  }

  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.s.dispose();
    }
  }
}
