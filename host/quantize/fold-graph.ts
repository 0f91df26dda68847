import { UserError } from '../util/errors.ts';
import type { IrGraph } from './ir.ts';
import { consumerCounts, padThenValidIsSame } from './ir.ts';

/** The float-exact IR rewrites lower.ts applies after lowering: BatchNorm folding, activation fusion, PAD folding. */

/** Replaces every use of value `from` by value `to` in ops after index `start` and in the graph output. */
function renameUses(graph: IrGraph, from: number, to: number, start: number): void {
  for (let k = start; k < graph.ops.length; k++) {
    const op = graph.ops[k]!;
    op.inputs = op.inputs.map((i) => (i === from ? to : i));
  }
  if (graph.output === from) graph.output = to;
}

function producerIndex(graph: IrGraph): Map<number, number> {
  const m = new Map<number, number>();
  graph.ops.forEach((op, i) => m.set(op.output, i));
  return m;
}

/** Folds each BATCH_NORM into the conv/depthwise/dense producing its input. */
export function foldBatchNorms(graph: IrGraph): void {
  for (let k = 0; k < graph.ops.length; k++) {
    const bn = graph.ops[k]!;
    if (bn.kind !== 'BATCH_NORM') continue;
    const counts = consumerCounts(graph);
    const prodIdx = producerIndex(graph).get(bn.inputs[0]!);
    const prod = prodIdx === undefined ? undefined : graph.ops[prodIdx];
    if (!prod || !(prod.kind === 'CONV_2D' || prod.kind === 'DEPTHWISE_CONV_2D' || prod.kind === 'FULLY_CONNECTED') || prod.activation !== 'NONE' || counts.get(prod.output) !== 1) {
      throw new UserError(
        `layer "${bn.name}" (BatchNormalization) does not directly follow a Conv2D, DepthwiseConv2D or Dense layer without activation, so it cannot be folded; move it right after one`,
      );
    }
    const cout = prod.kind === 'DEPTHWISE_CONV_2D' ? prod.weightShape[3] : prod.weightShape[0];
    if (bn.mul.length !== cout) throw new UserError(`layer "${bn.name}" (BatchNormalization) has ${bn.mul.length} channels but "${prod.name}" outputs ${cout}`);
    const w = prod.weights;
    if (prod.kind === 'DEPTHWISE_CONV_2D') {
      for (let i = 0; i < w.length; i++) w[i] = w[i]! * bn.mul[i % cout]!;
    } else {
      const per = w.length / cout;
      for (let o = 0; o < cout; o++) for (let j = 0; j < per; j++) w[o * per + j] = w[o * per + j]! * bn.mul[o]!;
    }
    for (let o = 0; o < cout; o++) prod.bias[o] = prod.bias[o]! * bn.mul[o]! + bn.add[o]!;
    graph.notes.push(`folded BatchNormalization "${bn.name}" into "${prod.name}"`);
    prod.name = `${prod.name}+${bn.name}`;
    graph.values[prod.output]!.name = bn.name;
    renameUses(graph, bn.output, prod.output, k + 1);
    graph.ops.splice(k, 1);
    k--;
  }
}

/** Fuses standalone RELU/RELU6 into the producing conv/depthwise/add/dense when it is the only consumer. */
export function fuseActivations(graph: IrGraph): void {
  for (let k = 0; k < graph.ops.length; k++) {
    const act = graph.ops[k]!;
    if (act.kind !== 'RELU' && act.kind !== 'RELU6') continue;
    const counts = consumerCounts(graph);
    const prodIdx = producerIndex(graph).get(act.inputs[0]!);
    const prod = prodIdx === undefined ? undefined : graph.ops[prodIdx];
    if (!prod || !(prod.kind === 'CONV_2D' || prod.kind === 'DEPTHWISE_CONV_2D' || prod.kind === 'ADD' || prod.kind === 'FULLY_CONNECTED') || prod.activation !== 'NONE' || counts.get(prod.output) !== 1) {
      graph.notes.push(`kept standalone ${act.kind} "${act.name}" (its input has other consumers or no fusable producer)`);
      continue;
    }
    prod.activation = act.kind;
    graph.values[prod.output]!.name = act.name.replace(/\/activation$/, '');
    renameUses(graph, act.output, prod.output, k + 1);
    graph.ops.splice(k, 1);
    k--;
  }
}

/** PAD → VALID conv pairs that equal a SAME conv lose the PAD; the others keep an explicit PAD op. */
export function foldPadding(graph: IrGraph): void {
  for (let k = 0; k < graph.ops.length; k++) {
    const pad = graph.ops[k]!;
    if (pad.kind !== 'PAD') continue;
    const counts = consumerCounts(graph);
    if (counts.get(pad.output) !== 1) continue;
    const consumer = graph.ops.find((op) => op.inputs.includes(pad.output));
    if (!consumer || !(consumer.kind === 'CONV_2D' || consumer.kind === 'DEPTHWISE_CONV_2D') || consumer.padding !== 'VALID') {
      graph.notes.push(`kept explicit PAD "${pad.name}" (not followed by a VALID convolution)`);
      continue;
    }
    const [, h, w] = graph.values[pad.inputs[0]!]!.shape as [number, number, number, number];
    const kh = consumer.weightShape[1];
    const kw = consumer.weightShape[2];
    const okH = padThenValidIsSame(h, pad.paddings[0][0], pad.paddings[0][1], kh, consumer.strideH, consumer.dilationH);
    const okW = padThenValidIsSame(w, pad.paddings[1][0], pad.paddings[1][1], kw, consumer.strideW, consumer.dilationW);
    if (okH && okW) {
      consumer.padding = 'SAME';
      consumer.inputs = consumer.inputs.map((i) => (i === pad.output ? pad.inputs[0]! : i));
      graph.notes.push(`"${pad.name}" ${JSON.stringify(pad.paddings)} + VALID "${consumer.name}" on ${h}×${w} → SAME`);
      graph.ops.splice(k, 1);
      k--;
    } else {
      graph.notes.push(
        `kept explicit PAD "${pad.name}" ${JSON.stringify(pad.paddings)} before "${consumer.name}": on ${h}×${w} it differs from TF SAME padding (TFLite Micro runs PAD with reference kernels)`,
      );
    }
  }
}
