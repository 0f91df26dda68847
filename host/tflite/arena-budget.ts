import { planArena } from './arena.ts';
import { ESP_NN_VERSIONS, scratchBytes, type EspNnVersion } from './esp-nn-scratch.ts';
import type { TfliteModel } from './model.ts';

/**
 * The tensor arena a board needs for a model: TFLM's greedy plan of the activations together with
 * the kernels' scratch buffers (host/tflite/esp-nn-scratch.ts), plus TFLM's persistent allocations.
 * The firmware's kArenaBytes is the worst case over the esp-nn versions the firmware admits.
 */

// TFLM's persistent use, estimated for a 32-bit target: interpreter, allocator and subgraph structs
// plus alignment slack; TfLiteEvalTensor and dims per tensor; node, registration and kernel OpData
// per operator; the per-channel output multiplier and shift (two int32) that CONV_2D,
// DEPTHWISE_CONV_2D and FULLY_CONNECTED keep for every output channel. Issue 13 measured 423,036 B
// with reference kernels for models/default.tflite, where this gives 477,552 B.
export const PERSISTENT_ESTIMATE = {
  fixedBytes: 16 * 1024,
  perTensorBytes: 64,
  perOperatorBytes: 128,
  perOutputChannelBytes: 8,
} as const;

const ALIGN = 16;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface ScratchRequest {
  op: number;
  opName: string;
  /** The operator's output tensor name, which names the layer (e.g. "Conv_1"). */
  name: string;
  bytes: number;
}

export interface VersionArena {
  version: EspNnVersion;
  releases: string;
  /** Peak of the greedy plan of activations and scratch buffers. */
  plannedBytes: number;
  scratch: ScratchRequest[];
  largestScratch?: ScratchRequest;
  totalBytes: number;
}

export interface ArenaBudget {
  /** Peak of the activations alone (what TFLM's reference kernels plan). */
  activationBytes: number;
  /** Every activation in its own space. */
  activationBytesUnshared: number;
  persistentBytes: number;
  persistentParts: { fixed: number; perTensor: number; perOperator: number; perChannelQuant: number };
  /** One entry per esp-nn version form. */
  espNn: VersionArena[];
  /** The esp-nn version form with the largest arena; the firmware is sized for it. */
  worst: EspNnVersion;
  /** align16(worst plan) + persistent. */
  totalBytes: number;
  /** TFLM preserve_all_tensors: every activation and every scratch buffer (worst version) in its own space. */
  preserveAllBytes: number;
}

function persistentParts(model: TfliteModel): ArenaBudget['persistentParts'] {
  let channels = 0;
  for (const op of model.operators) {
    if (op.op !== 'CONV_2D' && op.op !== 'DEPTHWISE_CONV_2D' && op.op !== 'FULLY_CONNECTED') continue;
    const filter = model.tensors[op.inputs[1] ?? -1];
    if (!filter) continue;
    channels += (op.op === 'DEPTHWISE_CONV_2D' ? filter.shape[3] : filter.shape[0]) ?? 0;
  }
  return {
    fixed: PERSISTENT_ESTIMATE.fixedBytes,
    perTensor: PERSISTENT_ESTIMATE.perTensorBytes * model.tensors.length,
    perOperator: PERSISTENT_ESTIMATE.perOperatorBytes * model.operators.length,
    perChannelQuant: PERSISTENT_ESTIMATE.perOutputChannelBytes * channels,
  };
}

export function arenaBudget(model: TfliteModel): ArenaBudget {
  const activations = planArena(model);
  const parts = persistentParts(model);
  const persistentBytes = alignUp(parts.fixed + parts.perTensor + parts.perOperator + parts.perChannelQuant);
  const espNn = ESP_NN_VERSIONS.map(({ id, releases }): VersionArena => {
    const perOp = model.operators.map((_, k) => scratchBytes(model, k, id));
    const plan = planArena(model, perOp);
    const scratch = plan.scratch.map(({ op, bytes }) => {
      const o = model.operators[op]!;
      return {
        op,
        opName: o.op === 'OTHER' ? o.name : o.op,
        name: model.tensors[o.outputs[0] ?? -1]?.name ?? '',
        bytes,
      };
    });
    const largestScratch = scratch.reduce<ScratchRequest | undefined>((m, s) => (!m || s.bytes > m.bytes ? s : m), undefined);
    return {
      version: id,
      releases,
      plannedBytes: plan.peakBytes,
      scratch,
      ...(largestScratch ? { largestScratch } : {}),
      totalBytes: alignUp(plan.peakBytes) + persistentBytes,
    };
  });
  const worst = espNn.reduce((a, b) => (b.totalBytes > a.totalBytes ? b : a));
  const unshared = activations.tensors.reduce((n, t) => n + alignUp(t.bytes), 0);
  const worstScratch = worst.scratch.reduce((n, s) => n + alignUp(s.bytes), 0);
  return {
    activationBytes: activations.peakBytes,
    activationBytesUnshared: unshared,
    persistentBytes,
    persistentParts: parts,
    espNn,
    worst: worst.version,
    totalBytes: worst.totalBytes,
    preserveAllBytes: unshared + worstScratch + persistentBytes,
  };
}
