// Builds the int8 `.tflite` model (tensors, buffers, operators, metadata) from a quantized IR graph.
import type { Operator, Quantization, Tensor, TfliteModel, PlastisortMetadata } from '../tflite/model.ts';
import type { IrGraph } from './ir.ts';
import { hasWeights } from './ir.ts';
import type { QuantParams } from './int8-params.ts';

function bytesOf(a: Int8Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function int32Bytes(values: number[]): Uint8Array {
  return bytesOf(Int32Array.from(values));
}

export interface BuildOptions {
  /**
   * Write quantization parameters (scale = input scale × weight scale, zero point 0) on the int32 bias
   * of CONV_2D and DEPTHWISE_CONV_2D (default true). TFLite and TFLite Micro derive those ops'
   * requantization from input, filter and output scales only and never read the bias's parameters, so
   * false drops them: per output channel they cost a float32 scale (the zero-point vector is shared
   * with the filter's), about 3% of a MobileNetV2 file. They stay by default because LiteRT's XNNPACK
   * delegate takes a convolution only when its bias is quantized: without them LiteRT runs the
   * convolutions on TFLite's built-in kernels, ~20× slower in Node and with other rounding, so
   * desktop int8 outputs no longer match the int8 engine's XNNPACK variant. FULLY_CONNECTED always
   * keeps them: TFLite's kernel checks its bias scale.
   */
  biasQuantParams?: boolean;
}

/** Builds the int8 TfliteModel from the quantized graph. */
export function buildTfliteModel(graph: IrGraph, params: QuantParams, meta: PlastisortMetadata, options: BuildOptions = {}): TfliteModel {
  const tensors: Tensor[] = [];
  const buffers: Uint8Array[] = [new Uint8Array(0)];
  const operators: Operator[] = [];
  const valueTensor = new Map<number, number>();
  const addConst = (name: string, shape: number[], type: Tensor['type'], data: Uint8Array, quantization?: Quantization): number => {
    buffers.push(data);
    tensors.push({ name, shape, type, buffer: buffers.length - 1, ...(quantization ? { quantization } : {}) });
    return tensors.length - 1;
  };
  const tensorOf = (id: number): number => {
    let t = valueTensor.get(id);
    if (t === undefined) {
      const v = graph.values[id]!;
      const q = params.activations.get(id)!;
      tensors.push({
        name: v.name,
        shape: [...v.shape],
        type: 'int8',
        buffer: 0,
        quantization: { scale: [q.scale], zeroPoint: [q.zeroPoint], min: [q.min], max: [q.max] },
      });
      t = tensors.length - 1;
      valueTensor.set(id, t);
    }
    return t;
  };
  tensorOf(graph.input);
  for (const op of graph.ops) {
    const ins = op.inputs.map(tensorOf);
    if (hasWeights(op)) {
      const q = params.weights.get(op.name)!;
      const perChannel = q.weightScales.length > 1;
      const qdim = op.kind === 'DEPTHWISE_CONV_2D' ? 3 : 0;
      const wq: Quantization = { scale: q.weightScales, zeroPoint: q.weightScales.map(() => 0), ...(perChannel ? { quantizedDimension: qdim } : {}) };
      const bq: Quantization = { scale: q.biasScales, zeroPoint: q.biasScales.map(() => 0), ...(perChannel ? { quantizedDimension: 0 } : {}) };
      const keepBiasParams = op.kind === 'FULLY_CONNECTED' || options.biasQuantParams !== false;
      ins.push(addConst(`${op.name}/weights`, [...op.weightShape], 'int8', bytesOf(q.weights), wq));
      ins.push(addConst(`${op.name}/bias`, [op.bias.length], 'int32', bytesOf(q.bias), keepBiasParams ? bq : undefined));
    }
    const out = tensorOf(op.output);
    switch (op.kind) {
      case 'CONV_2D':
        operators.push({ op: 'CONV_2D', inputs: ins, outputs: [out], options: { padding: op.padding, strideW: op.strideW, strideH: op.strideH, dilationW: op.dilationW, dilationH: op.dilationH, fusedActivation: op.activation } });
        break;
      case 'DEPTHWISE_CONV_2D':
        operators.push({ op: 'DEPTHWISE_CONV_2D', inputs: ins, outputs: [out], options: { padding: op.padding, strideW: op.strideW, strideH: op.strideH, dilationW: op.dilationW, dilationH: op.dilationH, fusedActivation: op.activation, depthMultiplier: op.depthMultiplier } });
        break;
      case 'FULLY_CONNECTED':
        operators.push({ op: 'FULLY_CONNECTED', inputs: ins, outputs: [out], options: { fusedActivation: op.activation, keepNumDims: false } });
        break;
      case 'ADD':
        operators.push({ op: 'ADD', inputs: ins, outputs: [out], options: { fusedActivation: op.activation } });
        break;
      case 'MEAN':
        ins.push(addConst(`${op.name}/axes`, [2], 'int32', int32Bytes([1, 2])));
        operators.push({ op: 'MEAN', inputs: ins, outputs: [out], options: { keepDims: false } });
        break;
      case 'SOFTMAX':
        operators.push({ op: 'SOFTMAX', inputs: ins, outputs: [out], options: { beta: op.beta } });
        break;
      case 'PAD':
        ins.push(addConst(`${op.name}/paddings`, [4, 2], 'int32', int32Bytes([0, 0, ...op.paddings[0], ...op.paddings[1], 0, 0])));
        operators.push({ op: 'PAD', inputs: ins, outputs: [out] });
        break;
      case 'RESHAPE':
        ins.push(addConst(`${op.name}/shape`, [op.newShape.length], 'int32', int32Bytes(op.newShape)));
        operators.push({ op: 'RESHAPE', inputs: ins, outputs: [out], options: { newShape: op.newShape } });
        break;
      case 'RELU':
      case 'RELU6':
        operators.push({ op: op.kind, inputs: ins, outputs: [out] });
        break;
      case 'BATCH_NORM':
        throw new Error(`internal: unfolded BATCH_NORM ${op.name}`);
    }
  }
  return {
    version: 3,
    description: `plastisort int8 classifier (${meta.labels.length} classes, ${meta.inputSize}x${meta.inputSize})`,
    tensors,
    operators,
    inputs: [valueTensor.get(graph.input)!],
    outputs: [valueTensor.get(graph.output)!],
    buffers,
    metadata: { plastisort: new TextEncoder().encode(JSON.stringify(meta)) },
  };
}

/** The same model without quantization parameters on CONV_2D / DEPTHWISE_CONV_2D biases (see BuildOptions). */
export function withoutConvBiasQuantParams(model: TfliteModel): TfliteModel {
  const biases = new Set<number>();
  for (const op of model.operators) {
    if ((op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') && op.inputs[2] !== undefined && op.inputs[2] >= 0) biases.add(op.inputs[2]);
  }
  const tensors = model.tensors.map((t, i) => {
    if (!biases.has(i) || t.type !== 'int32' || !t.quantization) return t;
    const { quantization: _dropped, ...rest } = t;
    return rest;
  });
  return { ...model, tensors };
}
