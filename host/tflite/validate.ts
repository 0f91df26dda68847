import { UserError } from '../util/errors.ts';
import { TENSOR_TYPE_SIZE } from './arena.ts';
import type { Operator, Padding, Tensor, TfliteModel } from './model.ts';

/**
 * Structural checks a runtime may not make: LiteRT, for one, runs a CONV_2D whose filter depth does
 * not match its input. Each problem is one line naming the operator or tensor. Checks cover constant
 * buffer sizes, per-channel quantization counts, and the shapes of the ops this project emits; other
 * ops are not checked.
 */
export function validateTfliteModel(model: TfliteModel): string[] {
  const problems: string[] = [];
  const name = (i: number) => `tensor ${i} (${model.tensors[i]?.name ?? '?'})`;
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

  for (const [what, list] of [['input', model.inputs], ['output', model.outputs]] as const) {
    for (const i of list) if (!(Number.isInteger(i) && i >= 0 && i < model.tensors.length)) problems.push(`model ${what} ${i} is not a tensor index`);
  }
  model.tensors.forEach((t, i) => {
    const bad = tensorProblem(t);
    if (bad) {
      problems.push(`${name(i)}: ${bad}`);
      return;
    }
    const data = model.buffers[t.buffer];
    if (data && data.length > 0) {
      const want = count(t.shape) * TENSOR_TYPE_SIZE[t.type];
      if (data.length !== want) {
        problems.push(`${name(i)}: buffer has ${data.length} bytes, shape [${t.shape.join(',')}] ${t.type} needs ${want}`);
      }
    }
    const q = t.quantization;
    if (q && q.scale.length > 1) {
      const dim = q.quantizedDimension ?? 0;
      if (dim < 0 || dim >= t.shape.length || t.shape[dim] !== q.scale.length) {
        problems.push(
          `${name(i)}: ${q.scale.length} per-channel scales along dimension ${dim}, shape is [${t.shape.join(',')}]`,
        );
      }
    }
  });

  model.operators.forEach((op, k) => {
    const where = `operator ${k} (${op.op === 'OTHER' ? op.name : op.op})`;
    const t = (i: number | undefined): Tensor | undefined =>
      i === undefined || i < 0 ? undefined : model.tensors[i];
    const expectShape = (i: number | undefined, want: number[], what: string) => {
      const got = t(i);
      if (got && got.shape.join(',') !== want.join(',')) {
        problems.push(`${where}: ${what} ${name(i!)} has shape [${got.shape.join(',')}], expected [${want.join(',')}]`);
      }
    };
    for (const problem of checkOperator(op, t, expectShape, count)) problems.push(`${where}: ${problem}`);
  });
  return problems;
}

/** Largest tensor accepted (1 GiB): far beyond any classifier here, and sizes stay exact in 32-bit arithmetic. */
const MAX_TENSOR_BYTES = 2 ** 30;

/** Shape and quantization parameters no runtime can use: huge or negative dims, non-finite scales. */
function tensorProblem(t: Tensor): string | undefined {
  if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) return `shape [${t.shape.join(',')}] has a negative or fractional dimension`;
  const bytes = t.shape.reduce((a, b) => a * b, 1) * (TENSOR_TYPE_SIZE[t.type] ?? 1);
  if (bytes > MAX_TENSOR_BYTES) return `shape [${t.shape.join(',')}] needs ${bytes} bytes, more than the 1 GiB any plausible model needs`;
  const q = t.quantization;
  if (!q) return undefined;
  if (q.scale.some((x) => !Number.isFinite(x) || x <= 0)) return `quantization scale ${q.scale.find((x) => !Number.isFinite(x) || x <= 0)} is not a positive finite number`;
  if (q.zeroPoint.length !== 0 && q.zeroPoint.length !== q.scale.length && q.zeroPoint.length !== 1) return `${q.zeroPoint.length} zero points for ${q.scale.length} scales`;
  if (t.type === 'int8' && q.zeroPoint.some((z) => z < -128 || z > 127)) return `zero point ${q.zeroPoint.find((z) => z < -128 || z > 127)} is outside the int8 range`;
  return undefined;
}

function spatial(inSize: number, k: number, stride: number, dilation: number, padding: Padding): number {
  const effective = (k - 1) * dilation + 1;
  return padding === 'SAME' ? Math.ceil(inSize / stride) : Math.floor((inSize - effective) / stride) + 1;
}

function checkOperator(
  op: Operator,
  t: (i: number | undefined) => Tensor | undefined,
  expectShape: (i: number | undefined, want: number[], what: string) => void,
  count: (shape: readonly number[]) => number,
): string[] {
  const problems: string[] = [];
  const x = t(op.inputs[0]);
  const y = t(op.outputs[0]);
  if (!x || !y) return op.op === 'OTHER' ? [] : ['missing input or output tensor'];
  const int8Bias = (i: number | undefined) => {
    const b = t(i);
    if (b && x.type === 'int8' && b.type !== 'int32') problems.push(`int8 op needs an int32 bias, got ${b.type}`);
  };
  switch (op.op) {
    case 'CONV_2D':
    case 'DEPTHWISE_CONV_2D': {
      const w = t(op.inputs[1]);
      if (x.shape.length !== 4 || !w || w.shape.length !== 4) {
        problems.push('input and filter must be 4-D');
        break;
      }
      const [n, h, wd, c] = x.shape as [number, number, number, number];
      const o = op.options;
      const kh = w.shape[1]!;
      const kw = w.shape[2]!;
      let outC: number;
      if (op.op === 'CONV_2D') {
        outC = w.shape[0]!;
        if (w.shape[3] !== c) problems.push(`filter depth ${w.shape[3]} does not match input channels ${c}`);
      } else {
        outC = w.shape[3]!;
        if (w.shape[0] !== 1) problems.push(`depthwise filter must be [1,KH,KW,C·M], got [${w.shape.join(',')}]`);
        if (outC % c !== 0) problems.push(`depthwise output channels ${outC} not a multiple of input channels ${c}`);
        else if (op.options.depthMultiplier > 0 && outC !== c * op.options.depthMultiplier) {
          problems.push(`depth multiplier ${op.options.depthMultiplier} disagrees with ${outC} output channels for ${c} inputs`);
        }
      }
      if (o.strideH < 1 || o.strideW < 1 || o.dilationH < 1 || o.dilationW < 1) {
        problems.push('strides and dilations must be ≥ 1');
        break;
      }
      expectShape(op.inputs[2], [outC], 'bias');
      int8Bias(op.inputs[2]);
      expectShape(
        op.outputs[0],
        [n, spatial(h, kh, o.strideH, o.dilationH, o.padding), spatial(wd, kw, o.strideW, o.dilationW, o.padding), outC],
        'output',
      );
      break;
    }
    case 'AVERAGE_POOL_2D':
    case 'MAX_POOL_2D': {
      const o = op.options;
      if (x.shape.length !== 4 || o.strideH < 1 || o.strideW < 1) {
        problems.push('input must be 4-D and strides ≥ 1');
        break;
      }
      const [n, h, wd, c] = x.shape as [number, number, number, number];
      expectShape(
        op.outputs[0],
        [n, spatial(h, o.filterHeight, o.strideH, 1, o.padding), spatial(wd, o.filterWidth, o.strideW, 1, o.padding), c],
        'output',
      );
      break;
    }
    case 'FULLY_CONNECTED': {
      const w = t(op.inputs[1]);
      if (!w || w.shape.length !== 2) {
        problems.push('weights must be 2-D [units, inputs]');
        break;
      }
      const [units, depth] = w.shape as [number, number];
      if (depth === 0 || count(x.shape) % depth !== 0) {
        problems.push(`input of ${count(x.shape)} values does not split into rows of ${depth}`);
      } else if (y.shape[y.shape.length - 1] !== units || count(y.shape) !== (count(x.shape) / depth) * units) {
        problems.push(`output shape [${y.shape.join(',')}] does not hold ${count(x.shape) / depth} rows of ${units}`);
      }
      expectShape(op.inputs[2], [units], 'bias');
      int8Bias(op.inputs[2]);
      break;
    }
    case 'ADD': {
      const b = t(op.inputs[1]);
      if (!b) break;
      const rank = Math.max(x.shape.length, b.shape.length);
      const want: number[] = [];
      for (let d = 0; d < rank; d++) {
        const p = x.shape[x.shape.length - rank + d] ?? 1;
        const q = b.shape[b.shape.length - rank + d] ?? 1;
        if (p !== q && p !== 1 && q !== 1) {
          problems.push(`inputs [${x.shape.join(',')}] and [${b.shape.join(',')}] do not broadcast`);
          return problems;
        }
        want.push(Math.max(p, q));
      }
      expectShape(op.outputs[0], want, 'output');
      break;
    }
    case 'SOFTMAX':
    case 'QUANTIZE':
    case 'DEQUANTIZE':
    case 'RELU':
    case 'RELU6':
    case 'LOGISTIC':
      expectShape(op.outputs[0], x.shape, 'output');
      break;
    case 'RESHAPE':
      if (count(x.shape) !== count(y.shape)) {
        problems.push(`reshape of ${count(x.shape)} values into [${y.shape.join(',')}] (${count(y.shape)} values)`);
      }
      break;
    case 'MEAN': {
      const axes = t(op.inputs[1]);
      if (!axes) problems.push('MEAN needs an axes tensor');
      break;
    }
    default:
      break;
  }
  return problems;
}

/** Refuses a model `inspect` flags, before it reaches the firmware headers, an evaluation or a board. */
export function requireSoundModel(model: TfliteModel, path: string): void {
  const problems = validateTfliteModel(model);
  if (problems.length === 0) return;
  throw new UserError(
    `${path}: damaged model, ${problems.length} problem${problems.length === 1 ? '' : 's'} (first: ${problems[0]}); plastisort inspect ${path} lists them, re-create it with plastisort quantize`,
  );
}
