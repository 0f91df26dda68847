import type { Operator, TfliteModel } from '../tflite/model.ts';
import { UserError } from '../util/errors.ts';

/**
 * TFLite builtin operator name → the `tflite::MicroMutableOpResolver` method that registers its
 * TensorFlow Lite Micro kernel (names as in TFLM's micro_mutable_op_resolver.h). An op missing here
 * has no TFLM kernel (or none this project vouches for) and cannot run on the device.
 */
export const TFLM_RESOLVER_METHODS: Readonly<Record<string, string>> = {
  ABS: 'AddAbs',
  ADD: 'AddAdd',
  ADD_N: 'AddAddN',
  ARG_MAX: 'AddArgMax',
  ARG_MIN: 'AddArgMin',
  AVERAGE_POOL_2D: 'AddAveragePool2D',
  BATCH_TO_SPACE_ND: 'AddBatchToSpaceNd',
  CAST: 'AddCast',
  CEIL: 'AddCeil',
  CONCATENATION: 'AddConcatenation',
  CONV_2D: 'AddConv2D',
  COS: 'AddCos',
  CUMSUM: 'AddCumSum',
  DEPTH_TO_SPACE: 'AddDepthToSpace',
  DEPTHWISE_CONV_2D: 'AddDepthwiseConv2D',
  DEQUANTIZE: 'AddDequantize',
  DIV: 'AddDiv',
  ELU: 'AddElu',
  EQUAL: 'AddEqual',
  EXP: 'AddExp',
  EXPAND_DIMS: 'AddExpandDims',
  FILL: 'AddFill',
  FLOOR: 'AddFloor',
  FLOOR_DIV: 'AddFloorDiv',
  FLOOR_MOD: 'AddFloorMod',
  FULLY_CONNECTED: 'AddFullyConnected',
  GATHER: 'AddGather',
  GATHER_ND: 'AddGatherNd',
  GREATER: 'AddGreater',
  GREATER_EQUAL: 'AddGreaterEqual',
  HARD_SWISH: 'AddHardSwish',
  L2_NORMALIZATION: 'AddL2Normalization',
  L2_POOL_2D: 'AddL2Pool2D',
  LEAKY_RELU: 'AddLeakyRelu',
  LESS: 'AddLess',
  LESS_EQUAL: 'AddLessEqual',
  LOG: 'AddLog',
  LOG_SOFTMAX: 'AddLogSoftmax',
  LOGICAL_AND: 'AddLogicalAnd',
  LOGICAL_NOT: 'AddLogicalNot',
  LOGICAL_OR: 'AddLogicalOr',
  LOGISTIC: 'AddLogistic',
  MAX_POOL_2D: 'AddMaxPool2D',
  MAXIMUM: 'AddMaximum',
  MEAN: 'AddMean',
  MINIMUM: 'AddMinimum',
  MIRROR_PAD: 'AddMirrorPad',
  MUL: 'AddMul',
  NEG: 'AddNeg',
  NOT_EQUAL: 'AddNotEqual',
  PACK: 'AddPack',
  PAD: 'AddPad',
  PADV2: 'AddPadV2',
  PRELU: 'AddPrelu',
  QUANTIZE: 'AddQuantize',
  REDUCE_MAX: 'AddReduceMax',
  RELU: 'AddRelu',
  RELU6: 'AddRelu6',
  RESHAPE: 'AddReshape',
  RESIZE_BILINEAR: 'AddResizeBilinear',
  RESIZE_NEAREST_NEIGHBOR: 'AddResizeNearestNeighbor',
  ROUND: 'AddRound',
  RSQRT: 'AddRsqrt',
  SELECT_V2: 'AddSelectV2',
  SHAPE: 'AddShape',
  SIN: 'AddSin',
  SLICE: 'AddSlice',
  SOFTMAX: 'AddSoftmax',
  SPACE_TO_BATCH_ND: 'AddSpaceToBatchNd',
  SPACE_TO_DEPTH: 'AddSpaceToDepth',
  SPLIT: 'AddSplit',
  SPLIT_V: 'AddSplitV',
  SQRT: 'AddSqrt',
  SQUARE: 'AddSquare',
  SQUARED_DIFFERENCE: 'AddSquaredDifference',
  SQUEEZE: 'AddSqueeze',
  STRIDED_SLICE: 'AddStridedSlice',
  SUB: 'AddSub',
  SUM: 'AddSum',
  SVDF: 'AddSvdf',
  TANH: 'AddTanh',
  TRANSPOSE: 'AddTranspose',
  TRANSPOSE_CONV: 'AddTransposeConv',
  UNPACK: 'AddUnpack',
  ZEROS_LIKE: 'AddZerosLike',
};

export function operatorName(op: Operator): string {
  return op.op === 'OTHER' ? op.name : op.op;
}

export interface ResolverOp {
  /** TFLite builtin name, e.g. CONV_2D. */
  op: string;
  method: string;
  /** How many operators of the model use it. */
  count: number;
}

/**
 * The distinct ops of the model in order of first use, with their resolver method. Throws a
 * UserError naming every op TFLM cannot resolve.
 */
export function resolverOps(model: TfliteModel, source: string): ResolverOp[] {
  const out: ResolverOp[] = [];
  const byName = new Map<string, ResolverOp>();
  const missing: string[] = [];
  model.operators.forEach((op, k) => {
    const name = operatorName(op);
    const seen = byName.get(name);
    if (seen) {
      seen.count++;
      return;
    }
    const method = TFLM_RESOLVER_METHODS[name];
    if (!method) {
      missing.push(`${name} (first at operator ${k})`);
      byName.set(name, { op: name, method: '', count: 1 });
      return;
    }
    const entry = { op: name, method, count: 1 };
    byName.set(name, entry);
    out.push(entry);
  });
  if (missing.length) {
    throw new UserError(
      `${source}: TensorFlow Lite Micro has no kernel for ${missing.join(', ')}; re-create the model with plastisort quantize, which emits only TFLM ops`,
    );
  }
  if (out.length === 0) throw new UserError(`${source}: the model has no operators; pass a complete .tflite`);
  return out;
}

/**
 * Reads an op_resolver.h that `plastisort export` wrote: the ops it registers (TFLite builtin names)
 * and the SHA-256 of the model it was generated for (its `// model sha256:` line), so a firmware build
 * can be asked which ops a model from the `model` partition may use.
 */
export function parseOpResolverHeader(text: string): { modelSha256?: string; ops: string[] } {
  const byMethod = new Map(Object.entries(TFLM_RESOLVER_METHODS).map(([op, method]) => [method, op]));
  const ops: string[] = [];
  for (const m of text.matchAll(/\bresolver\.(Add\w+)\(\)/g)) {
    const op = byMethod.get(m[1]!) ?? m[1]!;
    if (!ops.includes(op)) ops.push(op);
  }
  const sha = /^\/\/ model sha256: ([0-9a-f]{64})$/m.exec(text)?.[1];
  return { modelSha256: sha, ops };
}
