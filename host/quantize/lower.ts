/**
 * Lowers a tfjs LayersModel (Keras layer graph) to the float IR of `ir.ts`: the ops TFLite Micro's
 * MicroMutableOpResolver offers and ESP-NN accelerates, TFLite weight layouts, batch size 1.
 *
 * Rewrites, each exact in float:
 * - BatchNormalization after a convolution/depthwise/dense is folded into its weights and bias;
 * - ReLU (max_value 6 → RELU6, none → RELU) is fused into the producing CONV_2D/DEPTHWISE_CONV_2D/ADD/FC;
 * - Dropout (inference identity) disappears;
 * - ZeroPadding2D + VALID convolution becomes a SAME convolution when both read the same input positions
 *   (Keras MobileNetV2 pads ((0,1),(0,1)) at even sizes, = TF SAME), else an explicit PAD op stays;
 * - GlobalAveragePooling2D → MEAN over axes 1,2; Dense → FULLY_CONNECTED; softmax → SOFTMAX.
 * Anything else is refused with a UserError naming the layer and its type.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.ts';
import type { IrActivation, IrGraph, IrOp, IrValue } from './ir.ts';
import { samePadding, validOutput } from './ir.ts';
import { foldBatchNorms, foldPadding, fuseActivations } from './fold-graph.ts';

type SymbolicTensor = tf.SymbolicTensor;
type Config = Record<string, unknown>;

interface LayerNode {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
}

function nodesOf(layer: tf.layers.Layer): LayerNode[] {
  return (layer as unknown as { inboundNodes: LayerNode[] }).inboundNodes;
}

function pair(v: unknown, what: string, layer: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new UserError(`layer "${layer}": cannot read its ${what} (${JSON.stringify(v)}); re-save the model with explicit 2-D ${what}`);
}

function activationOf(name: unknown, layer: string, type: string): IrActivation | 'SOFTMAX' {
  const a = name === null || name === undefined ? 'linear' : String(name);
  if (a === 'linear') return 'NONE';
  if (a === 'relu') return 'RELU';
  if (a === 'relu6') return 'RELU6';
  if (a === 'softmax') return 'SOFTMAX';
  throw new UserError(
    `layer "${layer}" (${type}) uses activation "${a}", which the int8 TFLite Micro graph does not support; use relu, relu6, softmax or linear`,
  );
}

function weightsByName(layer: tf.layers.Layer): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  const values = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = w.name.split('/').pop()!.replace(/_\d+$/, '').replace(/:\d+$/, '');
    out.set(short, values[i]!);
  });
  return out;
}

function f32(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

class Lowering {
  readonly values: IrValue[] = [];
  readonly ops: IrOp[] = [];
  readonly notes: string[] = [];
  /** Keras symbolic tensor id → IR value id. */
  private readonly map = new Map<number, number>();

  newValue(name: string, shape: number[]): number {
    const id = this.values.length;
    this.values.push({ id, name, shape: [...shape] });
    return id;
  }

  valueOf(t: SymbolicTensor, consumer: string): number {
    const v = this.map.get(t.id);
    if (v === undefined) throw new UserError(`layer "${consumer}": its input "${t.name}" is not produced by any lowered layer; the model graph is not supported`);
    return v;
  }

  bind(t: SymbolicTensor, value: number): void {
    this.map.set(t.id, value);
  }

  shapeOf(v: number): number[] {
    return this.values[v]!.shape;
  }

  /** Lowers every layer of a (possibly nested) LayersModel whose inputs are already bound. */
  lowerContainer(model: tf.LayersModel): void {
    const known = (t: SymbolicTensor) => this.map.has(t.id);
    for (const layer of model.layers) {
      const type = layer.getClassName();
      if (type === 'InputLayer') continue;
      const node = nodesOf(layer).find((n) => n.inputTensors.every(known));
      if (!node) {
        throw new UserError(`layer "${layer.name}" (${type}) has no inputs from the lowered graph; shared or disconnected layers are not supported`);
      }
      if (layer instanceof tf.LayersModel) {
        // A nested model (e.g. a backbone inside the classifier): bind its inputs and lower its layers.
        layer.inputs.forEach((inner, i) => this.bind(inner, this.valueOf(node.inputTensors[i]!, layer.name)));
        this.lowerContainer(layer);
        layer.outputs.forEach((inner, i) => this.bind(node.outputTensors[i]!, this.valueOf(inner, layer.name)));
        continue;
      }
      const inputs = node.inputTensors.map((t) => this.valueOf(t, layer.name));
      const out = this.lowerLayer(layer, type, inputs);
      if (node.outputTensors.length !== 1) throw new UserError(`layer "${layer.name}" (${type}) has ${node.outputTensors.length} outputs; only single-output layers can be lowered`);
      this.bind(node.outputTensors[0]!, out);
    }
  }

  private single(inputs: number[], name: string, type: string): number {
    if (inputs.length !== 1) throw new UserError(`layer "${name}" (${type}) has ${inputs.length} inputs; expected one`);
    return inputs[0]!;
  }

  private emitActivation(after: number, act: IrActivation | 'SOFTMAX', name: string): number {
    if (act === 'NONE') return after;
    const shape = this.shapeOf(after);
    const output = this.newValue(name, shape);
    if (act === 'SOFTMAX') this.ops.push({ kind: 'SOFTMAX', name, inputs: [after], output, beta: 1 });
    else this.ops.push({ kind: act, name, inputs: [after], output });
    return output;
  }

  private lowerLayer(layer: tf.layers.Layer, type: string, inputs: number[]): number {
    const cfg = layer.getConfig() as Config;
    const name = layer.name;
    switch (type) {
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        return this.single(inputs, name, type);
      case 'Conv2D':
      case 'DepthwiseConv2D':
        return this.lowerConv(layer, type, cfg, this.single(inputs, name, type));
      case 'BatchNormalization':
        return this.lowerBatchNorm(layer, cfg, this.single(inputs, name, type));
      case 'ReLU': {
        const input = this.single(inputs, name, type);
        const maxValue = cfg.maxValue ?? cfg.max_value ?? null;
        const slope = Number(cfg.negativeSlope ?? cfg.negative_slope ?? 0);
        const threshold = Number(cfg.threshold ?? 0);
        if (slope !== 0 || threshold !== 0 || (maxValue !== null && Number(maxValue) !== 6)) {
          throw new UserError(
            `layer "${name}" (ReLU) has max_value=${maxValue}, negative_slope=${slope}, threshold=${threshold}; only plain ReLU and ReLU6 lower to int8 TFLite`,
          );
        }
        return this.emitActivation(input, maxValue === null ? 'RELU' : 'RELU6', name);
      }
      case 'Activation':
        return this.emitActivation(this.single(inputs, name, type), activationOf(cfg.activation, name, type), name);
      case 'Softmax': {
        const axis = cfg.axis;
        const rank = this.shapeOf(inputs[0]!).length;
        if (!(axis === undefined || axis === -1 || axis === rank - 1 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === rank - 1)))) {
          throw new UserError(`layer "${name}" (Softmax) uses axis ${JSON.stringify(axis)}; only the last axis is supported`);
        }
        return this.emitActivation(this.single(inputs, name, type), 'SOFTMAX', name);
      }
      case 'ZeroPadding2D': {
        const input = this.single(inputs, name, type);
        const p = cfg.padding;
        let pads: [[number, number], [number, number]];
        if (typeof p === 'number') pads = [[p, p], [p, p]];
        else if (Array.isArray(p) && typeof p[0] === 'number') pads = [[p[0] as number, p[0] as number], [p[1] as number, p[1] as number]];
        else pads = [pair(p && (p as unknown[])[0], 'padding', name), pair(p && (p as unknown[])[1], 'padding', name)];
        const [, h, w, c] = this.shapeOf(input) as [number, number, number, number];
        const output = this.newValue(name, [1, h + pads[0][0] + pads[0][1], w + pads[1][0] + pads[1][1], c]);
        this.ops.push({ kind: 'PAD', name, inputs: [input], output, paddings: pads });
        return output;
      }
      case 'Add': {
        if (inputs.length < 2) throw new UserError(`layer "${name}" (Add) has ${inputs.length} inputs; expected two or more`);
        const shape = this.shapeOf(inputs[0]!);
        for (const i of inputs) {
          if (JSON.stringify(this.shapeOf(i)) !== JSON.stringify(shape)) {
            throw new UserError(`layer "${name}" (Add) adds tensors of shapes ${JSON.stringify(shape)} and ${JSON.stringify(this.shapeOf(i))}; broadcasting adds are not supported`);
          }
        }
        let acc = inputs[0]!;
        for (let k = 1; k < inputs.length; k++) {
          const output = this.newValue(name, shape);
          this.ops.push({ kind: 'ADD', name, inputs: [acc, inputs[k]!], output, activation: 'NONE' });
          acc = output;
        }
        return acc;
      }
      case 'GlobalAveragePooling2D': {
        const input = this.single(inputs, name, type);
        if (cfg.dataFormat === 'channelsFirst' || cfg.data_format === 'channels_first') {
          throw new UserError(`layer "${name}" (GlobalAveragePooling2D) is channels_first; only channels_last (NHWC) models are supported`);
        }
        if (cfg.keepDims === true || cfg.keepdims === true) {
          throw new UserError(`layer "${name}" (GlobalAveragePooling2D) keeps dims; re-save without keepdims`);
        }
        const shape = this.shapeOf(input);
        const output = this.newValue(name, [1, shape[3]!]);
        this.ops.push({ kind: 'MEAN', name, inputs: [input], output });
        return output;
      }
      case 'Flatten': {
        const input = this.single(inputs, name, type);
        const n = this.shapeOf(input).slice(1).reduce((a, b) => a * b, 1);
        const output = this.newValue(name, [1, n]);
        this.ops.push({ kind: 'RESHAPE', name, inputs: [input], output, newShape: [1, n] });
        return output;
      }
      case 'Dense':
        return this.lowerDense(layer, cfg, this.single(inputs, name, type));
      default:
        throw new UserError(
          `layer "${name}" has type ${type}, which cannot be lowered to int8 TFLite Micro ops (supported: Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Activation, Dropout, ZeroPadding2D, Add, GlobalAveragePooling2D, Flatten, Dense, Softmax); remove or replace it and retrain`,
        );
    }
  }

  private lowerConv(layer: tf.layers.Layer, type: string, cfg: Config, input: number): number {
    const name = layer.name;
    const inShape = this.shapeOf(input);
    if (inShape.length !== 4) throw new UserError(`layer "${name}" (${type}) needs a 4-D NHWC input, got shape ${JSON.stringify(inShape)}`);
    if (cfg.dataFormat === 'channelsFirst') throw new UserError(`layer "${name}" (${type}) is channels_first; only channels_last (NHWC) models are supported`);
    const [kh, kw] = pair(cfg.kernelSize, 'kernelSize', name);
    const [sh, sw] = pair(cfg.strides ?? 1, 'strides', name);
    const [dh, dw] = pair(cfg.dilationRate ?? 1, 'dilationRate', name);
    const pad = String(cfg.padding ?? 'valid');
    if (pad !== 'valid' && pad !== 'same') throw new UserError(`layer "${name}" (${type}) uses padding "${pad}"; only valid and same are supported`);
    const padding = pad === 'same' ? 'SAME' : 'VALID';
    const act = activationOf(cfg.activation, name, type);
    const w = weightsByName(layer);
    const [, h, wd, cin] = inShape as [number, number, number, number];
    const outH = padding === 'SAME' ? samePadding(h, kh, sh, dh).out : validOutput(h, kh, sh, dh);
    const outW = padding === 'SAME' ? samePadding(wd, kw, sw, dw).out : validOutput(wd, kw, sw, dw);
    if (outH < 1 || outW < 1) throw new UserError(`layer "${name}" (${type}): input ${h}×${wd} is smaller than its ${kh}×${kw} kernel`);
    let output: number;
    if (type === 'Conv2D') {
      const kernel = w.get('kernel');
      if (!kernel) throw new UserError(`layer "${name}" (Conv2D) has no kernel weight`);
      const cout = kernel.shape[3]!;
      if (kernel.shape[2] !== cin) throw new UserError(`layer "${name}" (Conv2D) is grouped (kernel ${JSON.stringify(kernel.shape)} on ${cin} channels); grouped convolutions are not supported`);
      const weights = f32(tf.tidy(() => tf.transpose(kernel, [3, 0, 1, 2]))); // HWIO → OHWI
      const bias = w.get('bias') ? f32(w.get('bias')!) : new Float32Array(cout);
      output = this.newValue(name, [1, outH, outW, cout]);
      this.ops.push({
        kind: 'CONV_2D', name, inputs: [input], output, weights, weightShape: [cout, kh, kw, cin], bias,
        strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padding, activation: 'NONE',
      });
    } else {
      const kernel = w.get('depthwise_kernel') ?? w.get('kernel');
      if (!kernel) throw new UserError(`layer "${name}" (DepthwiseConv2D) has no depthwise_kernel weight`);
      const mult = kernel.shape[3]!;
      const cout = cin * mult;
      // tfjs [kh,kw,in,mult] flattened row-major is exactly TFLite [1,kh,kw,in*mult] with channel c*mult+m.
      const weights = f32(kernel);
      const bias = w.get('bias') ? f32(w.get('bias')!) : new Float32Array(cout);
      output = this.newValue(name, [1, outH, outW, cout]);
      this.ops.push({
        kind: 'DEPTHWISE_CONV_2D', name, inputs: [input], output, weights, weightShape: [1, kh, kw, cout], bias,
        depthMultiplier: mult, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padding, activation: 'NONE',
      });
    }
    return this.emitActivation(output, act, `${name}/activation`);
  }

  private lowerDense(layer: tf.layers.Layer, cfg: Config, input: number): number {
    const name = layer.name;
    const inShape = this.shapeOf(input);
    if (inShape.length !== 2) {
      throw new UserError(`layer "${name}" (Dense) gets a ${inShape.length}-D input ${JSON.stringify(inShape)}; put GlobalAveragePooling2D or Flatten before it`);
    }
    const w = weightsByName(layer);
    const kernel = w.get('kernel');
    if (!kernel) throw new UserError(`layer "${name}" (Dense) has no kernel weight`);
    const units = kernel.shape[1]!;
    const weights = f32(tf.tidy(() => tf.transpose(kernel, [1, 0])));
    const bias = w.get('bias') ? f32(w.get('bias')!) : new Float32Array(units);
    const output = this.newValue(name, [1, units]);
    this.ops.push({ kind: 'FULLY_CONNECTED', name, inputs: [input], output, weights, weightShape: [units, inShape[1]!], bias, activation: 'NONE' });
    return this.emitActivation(output, activationOf(cfg.activation, name, 'Dense'), `${name}/activation`);
  }

  private lowerBatchNorm(layer: tf.layers.Layer, cfg: Config, input: number): number {
    const name = layer.name;
    const shape = this.shapeOf(input);
    const axis = Number(Array.isArray(cfg.axis) ? cfg.axis[0] : (cfg.axis ?? -1));
    if (!(axis === -1 || axis === shape.length - 1)) {
      throw new UserError(`layer "${name}" (BatchNormalization) normalises axis ${axis}; only the channel (last) axis can be folded`);
    }
    const w = weightsByName(layer);
    const c = shape[shape.length - 1]!;
    const eps = Number(cfg.epsilon ?? 1e-3);
    const gamma = w.get('gamma') ? f32(w.get('gamma')!) : new Float32Array(c).fill(1);
    const beta = w.get('beta') ? f32(w.get('beta')!) : new Float32Array(c);
    const mean = f32(w.get('moving_mean')!);
    const variance = f32(w.get('moving_variance')!);
    const mul = new Float32Array(c);
    const add = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      // Double precision here keeps the folded weights as close to tfjs's own float32 evaluation as possible.
      const m = gamma[i]! / Math.sqrt(variance[i]! + eps);
      mul[i] = m;
      add[i] = beta[i]! - mean[i]! * m;
    }
    const output = this.newValue(name, shape);
    this.ops.push({ kind: 'BATCH_NORM', name, inputs: [input], output, mul, add });
    return output;
  }
}

/** Lowers a single-input, single-output NHWC LayersModel to the float IR. */
export function lowerLayersModel(model: tf.LayersModel): IrGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UserError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only single-input, single-output classifiers can be quantized`);
  }
  const inShape = model.inputs[0]!.shape;
  if (inShape.length !== 4 || inShape.slice(1).some((d) => d === null)) {
    throw new UserError(`the model input has shape ${JSON.stringify(inShape)}; expected a fixed [batch, height, width, channels] image input`);
  }
  const lowering = new Lowering();
  const input = lowering.newValue(model.inputs[0]!.name, [1, ...(inShape.slice(1) as number[])]);
  lowering.bind(model.inputs[0]!, input);
  lowering.lowerContainer(model);
  const output = lowering.valueOf(model.outputs[0]!, 'model output');
  const graph: IrGraph = { values: lowering.values, ops: lowering.ops, input, output, notes: lowering.notes };
  foldBatchNorms(graph);
  fuseActivations(graph);
  foldPadding(graph);
  for (const op of graph.ops) if (op.kind === 'BATCH_NORM') throw new Error(`internal: unfolded BATCH_NORM ${op.name}`);
  if (graph.ops.length === 0) throw new UserError('the model has no layers to lower');
  return graph;
}

/** Per-op counts, e.g. { CONV_2D: 35, ... }, for reports. */
export function opCounts(graph: IrGraph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of graph.ops) counts[op.kind] = (counts[op.kind] ?? 0) + 1;
  return counts;
}
