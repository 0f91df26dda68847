import { UserError } from '../util/errors.ts';
import type { TensorType, TfliteModel } from './model.ts';

/**
 * Estimates the tensor arena a TFLite Micro interpreter needs for the model's activations: every
 * non-constant tensor lives from the operator that writes it (model inputs: from operator 0) to the
 * last operator that reads it (model outputs: to the end), and tensors whose lifetimes overlap may
 * not share memory. Tensors are placed greedily, largest first, at the lowest 16-byte-aligned offset
 * that does not collide with an already placed, simultaneously live tensor (the strategy of TFLM's
 * GreedyMemoryPlanner). Tensors are never aliased (a RESHAPE output gets its own space).
 *
 * TFLM adds its own bookkeeping (tensor structs, op scratch buffers, allocation headers) on top of
 * `peakBytes`; budget some kilobytes of head room when sizing the firmware's arena.
 */
export interface ArenaTensor {
  index: number;
  offset: number;
  bytes: number;
  firstOp: number;
  lastOp: number;
}

export interface ArenaPlan {
  peakBytes: number;
  tensors: ArenaTensor[];
  /** Kernel scratch buffers placed with the activations (one per operator that asked), by operator. */
  scratch: { op: number; offset: number; bytes: number }[];
}

export const ARENA_ALIGNMENT = 16;
/** Placement is quadratic in the tensor count; far beyond any microcontroller model. */
const MAX_PLANNED_TENSORS = 20_000;

export const TENSOR_TYPE_SIZE: Record<TensorType, number> = {
  float32: 4,
  float16: 2,
  int32: 4,
  uint8: 1,
  int64: 8,
  bool: 1,
  int16: 2,
  int8: 1,
};

export function tensorBytes(shape: readonly number[], type: TensorType): number {
  return shape.reduce((a, b) => a * b, 1) * TENSOR_TYPE_SIZE[type];
}

const alignUp = (n: number) => Math.ceil(n / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;

/**
 * `scratchBytes[k]`: a scratch buffer operator k requests in Prepare (0 or absent for none). TFLM
 * plans these with the activations, alive only during operator k.
 */
export function planArena(model: TfliteModel, scratchBytes: readonly number[] = []): ArenaPlan {
  const nOps = model.operators.length;
  const lastIndex = Math.max(0, nOps - 1);
  const isConstant = (i: number) => (model.buffers[model.tensors[i]!.buffer]?.length ?? 0) > 0;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const touch = (i: number, op: number) => {
    if (i < 0 || i >= model.tensors.length || isConstant(i)) return;
    if (!first.has(i)) first.set(i, op);
    last.set(i, Math.max(last.get(i) ?? op, op));
  };
  for (const i of model.inputs) touch(i, 0);
  model.operators.forEach((op, k) => {
    for (const i of op.inputs) {
      // A tensor read before anything writes it is fed from outside: live from the start.
      if (i >= 0 && i < model.tensors.length && !first.has(i) && !isConstant(i)) touch(i, 0);
      touch(i, k);
    }
    for (const o of op.outputs) touch(o, k);
  });
  for (const o of model.outputs) touch(o, lastIndex);
  for (const o of model.outputs) if (last.has(o)) last.set(o, lastIndex);

  const items = [...first.keys()].map((index) => {
    const t = model.tensors[index]!;
    return { index, bytes: tensorBytes(t.shape, t.type), firstOp: first.get(index)!, lastOp: last.get(index)! };
  });
  // Scratch buffers get negative indices (-1 - op) so they sort after tensors of equal size.
  scratchBytes.forEach((bytes, op) => {
    if (bytes > 0 && op < nOps) items.push({ index: -1 - op, bytes, firstOp: op, lastOp: op });
  });
  if (items.length > MAX_PLANNED_TENSORS) {
    throw new UserError(
      `model has ${items.length} activation tensors; arena planning handles at most ${MAX_PLANNED_TENSORS} (is the file corrupt?)`,
    );
  }
  items.sort((a, b) => b.bytes - a.bytes || a.firstOp - b.firstOp || Math.abs(a.index) - Math.abs(b.index));

  const placed: ArenaTensor[] = [];
  let peakBytes = 0;
  for (const item of items) {
    const conflicts = placed
      .filter((p) => p.firstOp <= item.lastOp && item.firstOp <= p.lastOp)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const c of conflicts) {
      if (offset + item.bytes <= c.offset) break;
      offset = Math.max(offset, alignUp(c.offset + c.bytes));
    }
    const entry = { ...item, offset };
    placed.push(entry);
    peakBytes = Math.max(peakBytes, offset + item.bytes);
  }
  const scratch = placed
    .filter((p) => p.index < 0)
    .map((p) => ({ op: -1 - p.index, offset: p.offset, bytes: p.bytes }))
    .sort((a, b) => a.op - b.op);
  const tensors = placed.filter((p) => p.index >= 0).sort((a, b) => a.index - b.index);
  return { peakBytes, tensors, scratch };
}
