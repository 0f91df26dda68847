/**
 * A plain float64 interpreter for the float ops the writer emits, following the TFLite kernel
 * definitions (NHWC activations, OHWI conv filters, [1,H,W,C·M] depthwise filters, SAME padding with
 * the extra pixel after, average pooling over in-bounds pixels only). Used to check LiteRT's output.
 */
import type { FusedActivation, Padding, TfliteModel } from '../../host/tflite/model.ts';

interface T {
  shape: number[];
  data: Float64Array;
}

function constantOf(model: TfliteModel, idx: number): T {
  const t = model.tensors[idx]!;
  const raw = model.buffers[t.buffer]!;
  const copy = raw.slice();
  const data =
    t.type === 'int32'
      ? Float64Array.from(new Int32Array(copy.buffer))
      : Float64Array.from(new Float32Array(copy.buffer));
  return { shape: t.shape, data };
}

function act(v: number, a: FusedActivation): number {
  if (a === 'RELU') return Math.max(0, v);
  if (a === 'RELU6') return Math.min(6, Math.max(0, v));
  if (a === 'RELU_N1_TO_1') return Math.min(1, Math.max(-1, v));
  if (a === 'TANH') return Math.tanh(v);
  return v;
}

function outSize(inSize: number, k: number, stride: number, padding: Padding): { out: number; before: number } {
  if (padding === 'VALID') return { out: Math.floor((inSize - k) / stride) + 1, before: 0 };
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  return { out, before: Math.floor(total / 2) };
}

export function runFloatReference(model: TfliteModel, input: Float32Array): Float64Array {
  const values = new Map<number, T>();
  const get = (i: number): T => values.get(i) ?? constantOf(model, i);
  const inIdx = model.inputs[0]!;
  values.set(inIdx, { shape: model.tensors[inIdx]!.shape, data: Float64Array.from(input) });
  for (const op of model.operators) {
    const outShape = model.tensors[op.outputs[0]!]!.shape;
    const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
    switch (op.op) {
      case 'CONV_2D':
      case 'DEPTHWISE_CONV_2D': {
        const x = get(op.inputs[0]!);
        const w = get(op.inputs[1]!);
        const b = op.inputs[2] !== undefined && op.inputs[2] >= 0 ? get(op.inputs[2]).data : undefined;
        const [, H, W, C] = x.shape as [number, number, number, number];
        const o = op.options;
        const depthwise = op.op === 'DEPTHWISE_CONV_2D';
        const KH = w.shape[1]!;
        const KW = w.shape[2]!;
        const OC = depthwise ? w.shape[3]! : w.shape[0]!;
        const rows = outSize(H, KH, o.strideH, o.padding);
        const cols = outSize(W, KW, o.strideW, o.padding);
        const mult = depthwise ? OC / C : 1;
        for (let oy = 0; oy < rows.out; oy++)
          for (let ox = 0; ox < cols.out; ox++)
            for (let oc = 0; oc < OC; oc++) {
              let acc = b ? b[oc]! : 0;
              for (let ky = 0; ky < KH; ky++)
                for (let kx = 0; kx < KW; kx++) {
                  const iy = oy * o.strideH - rows.before + ky * o.dilationH;
                  const ix = ox * o.strideW - cols.before + kx * o.dilationW;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  if (depthwise) {
                    const ic = Math.floor(oc / mult);
                    acc += x.data[(iy * W + ix) * C + ic]! * w.data[(ky * KW + kx) * OC + oc]!;
                  } else {
                    for (let ic = 0; ic < C; ic++) {
                      acc += x.data[(iy * W + ix) * C + ic]! * w.data[((oc * KH + ky) * KW + kx) * C + ic]!;
                    }
                  }
                }
              out[(oy * cols.out + ox) * OC + oc] = act(acc, o.fusedActivation);
            }
        break;
      }
      case 'ADD': {
        const a = get(op.inputs[0]!).data;
        const b = get(op.inputs[1]!).data;
        for (let i = 0; i < out.length; i++) out[i] = act(a[i]! + b[i]!, op.options.fusedActivation);
        break;
      }
      case 'AVERAGE_POOL_2D': {
        const x = get(op.inputs[0]!);
        const [, H, W, C] = x.shape as [number, number, number, number];
        const o = op.options;
        const rows = outSize(H, o.filterHeight, o.strideH, o.padding);
        const cols = outSize(W, o.filterWidth, o.strideW, o.padding);
        for (let oy = 0; oy < rows.out; oy++)
          for (let ox = 0; ox < cols.out; ox++)
            for (let c = 0; c < C; c++) {
              let sum = 0;
              let n = 0;
              for (let ky = 0; ky < o.filterHeight; ky++)
                for (let kx = 0; kx < o.filterWidth; kx++) {
                  const iy = oy * o.strideH - rows.before + ky;
                  const ix = ox * o.strideW - cols.before + kx;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  sum += x.data[(iy * W + ix) * C + c]!;
                  n++;
                }
              out[(oy * cols.out + ox) * C + c] = act(sum / n, o.fusedActivation);
            }
        break;
      }
      case 'MEAN': {
        // Spatial mean of NHWC over axes [1, 2], the only reduction the classifier uses.
        const x = get(op.inputs[0]!);
        const [, H, W, C] = x.shape as [number, number, number, number];
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let p = 0; p < H * W; p++) sum += x.data[p * C + c]!;
          out[c] = sum / (H * W);
        }
        break;
      }
      case 'FULLY_CONNECTED': {
        const x = get(op.inputs[0]!).data;
        const w = get(op.inputs[1]!);
        const b = op.inputs[2] !== undefined && op.inputs[2] >= 0 ? get(op.inputs[2]).data : undefined;
        const [O, I] = w.shape as [number, number];
        for (let o = 0; o < O; o++) {
          let acc = b ? b[o]! : 0;
          for (let i = 0; i < I; i++) acc += x[i]! * w.data[o * I + i]!;
          out[o] = act(acc, op.options.fusedActivation);
        }
        break;
      }
      case 'RESHAPE':
        out.set(get(op.inputs[0]!).data);
        break;
      case 'SOFTMAX': {
        const x = get(op.inputs[0]!).data;
        const max = Math.max(...x);
        let sum = 0;
        for (let i = 0; i < x.length; i++) sum += Math.exp(op.options.beta * (x[i]! - max));
        for (let i = 0; i < x.length; i++) out[i] = Math.exp(op.options.beta * (x[i]! - max)) / sum;
        break;
      }
      default:
        throw new Error(`reference interpreter: ${op.op} not implemented`);
    }
    values.set(op.outputs[0]!, { shape: outShape, data: out });
  }
  return values.get(model.outputs[0]!)!.data;
}
