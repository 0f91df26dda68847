/**
 * Activation-range equalization of the linear bottlenecks, a float-exact rewrite before quantization.
 *
 * MobileNetV2's project convolutions write signed, unclipped tensors (the residual streams) whose
 * channels span very different ranges, but an int8 activation has one scale per tensor: a channel that
 * spans a tenth of the widest one keeps about 25 of the 256 steps. Between a linear writer and its readers
 * a positive per-channel factor k can be moved freely (Nagel et al. 2019, "cross-layer equalization"):
 * the writer's output channel c is multiplied by k_c (weights and bias; per-channel weight scales absorb
 * it), every reader's input channel c is divided by k_c, and the network computes the same function.
 * Growing the narrow channels towards the widest uses more of the int8 grid for them; the price is in the
 * readers, whose shrunk input columns get coarser weight steps next to the unshrunk ones. `strength`
 * trades the two: k_c = (W / w_c)^strength, where w_c is the channel's calibrated width and W the widest
 * channel's, so 0 changes nothing and 1 makes every channel as wide as the widest.
 *
 * A stream is a set of values joined by activation-free ADDs (a block's projection and the residual sums
 * that carry it). Every value of the stream must be written by a convolution without activation or with
 * ReLU (which commutes with a positive factor; ReLU6's clip does not) or by one of the stream's ADDs, and
 * read only by convolutions, depthwise convolutions or the stream's ADDs; streams that touch anything
 * else (the graph's input or output, pooling, a fully connected layer) are left as they are.
 */
import type { IrConv, IrDepthwise, IrGraph, IrOp } from './ir.ts';
import type { ValueStats } from './calibrate.ts';

export interface LinearStream {
  /** Value ids of the stream, in graph order. */
  values: number[];
  /** Ops writing a stream value that carry the factor in their weights (convolutions). */
  writers: Array<IrConv | IrDepthwise>;
  /** Ops reading a stream value that take it out again. */
  readers: Array<IrConv | IrDepthwise>;
  channels: number;
}

export interface EqualizedStream {
  /** The stream's value names (Keras layer names), in graph order. */
  values: string[];
  channels: number;
  /** Widest over narrowest channel width, before and after the rewrite. */
  widthRatioBefore: number;
  widthRatioAfter: number;
  /** Largest factor applied to a channel. */
  maxFactor: number;
}

export interface EqualizationReport {
  strength: number;
  statistic: EqualizeStatistic;
  streams: EqualizedStream[];
}

function isConv(op: IrOp): op is IrConv | IrDepthwise {
  return op.kind === 'CONV_2D' || op.kind === 'DEPTHWISE_CONV_2D';
}

/** The graph's linear streams that can be rescaled exactly (see the file comment). */
export function findLinearStreams(graph: IrGraph): LinearStream[] {
  const parent = new Map<number, number>();
  const find = (v: number): number => {
    let r = v;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(v, r);
    return r;
  };
  const union = (a: number, b: number) => parent.set(find(a), find(b));
  const producer = new Map<number, IrOp>();
  for (const op of graph.ops) producer.set(op.output, op);
  const linearWriter = (op: IrOp | undefined) => !!op && isConv(op) && (op.activation === 'NONE' || op.activation === 'RELU');
  const joiningAdd = (op: IrOp) => op.kind === 'ADD' && op.activation === 'NONE';

  // Candidate values: outputs of linear convolutions and of activation-free ADDs, joined through the ADDs.
  for (const op of graph.ops) {
    if (linearWriter(op)) find(op.output);
    if (joiningAdd(op)) for (const i of op.inputs) union(i, op.output);
  }
  const groups = new Map<number, number[]>();
  for (const v of parent.keys()) {
    const r = find(v);
    groups.set(r, [...(groups.get(r) ?? []), v]);
  }

  const streams: LinearStream[] = [];
  for (const members of groups.values()) {
    const inStream = new Set(members);
    let ok = !inStream.has(graph.input) && !inStream.has(graph.output);
    const writers: Array<IrConv | IrDepthwise> = [];
    const readers: Array<IrConv | IrDepthwise> = [];
    const channels = graph.values[members[0]!]!.shape.at(-1)!;
    for (const v of members) {
      const p = producer.get(v);
      if (graph.values[v]!.shape.at(-1) !== channels) ok = false;
      if (p && linearWriter(p)) writers.push(p as IrConv | IrDepthwise);
      else if (!(p && joiningAdd(p) && p.inputs.every((i) => inStream.has(i)))) ok = false;
    }
    for (const op of graph.ops) {
      const reads = op.inputs.filter((i) => inStream.has(i));
      if (reads.length === 0) continue;
      if (joiningAdd(op) && inStream.has(op.output)) continue;
      if (isConv(op) && reads.length === 1 && op.inputs.length === 1) readers.push(op);
      else ok = false;
    }
    if (ok && writers.length > 0 && readers.length > 0) {
      const order = new Map(graph.ops.map((op, k) => [op.output, k]));
      streams.push({ values: members.sort((a, b) => order.get(a)! - order.get(b)!), writers, readers, channels });
    }
  }
  return streams.sort((a, b) => graph.ops.findIndex((op) => op.output === a.values[0]) - graph.ops.findIndex((op) => op.output === b.values[0]));
}

/** Multiplies output channel c of a convolution (weights and bias) by k[c]. */
function scaleOutputs(op: IrConv | IrDepthwise, k: Float64Array): void {
  const cout = op.bias.length;
  const w = op.weights;
  if (op.kind === 'DEPTHWISE_CONV_2D') {
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * k[i % cout]!;
  } else {
    const per = w.length / cout;
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * k[Math.floor(i / per)]!;
  }
  for (let c = 0; c < cout; c++) op.bias[c] = op.bias[c]! * k[c]!;
}

/** Divides input channel c of a convolution by k[c] (OHWI: channel i mod cin; depthwise: output channel ⌊j/M⌋). */
function unscaleInputs(op: IrConv | IrDepthwise, k: Float64Array): void {
  const w = op.weights;
  if (op.kind === 'DEPTHWISE_CONV_2D') {
    const cout = op.bias.length;
    for (let i = 0; i < w.length; i++) w[i] = w[i]! / k[Math.floor((i % cout) / op.depthMultiplier)]!;
  } else {
    const cin = op.weightShape[3];
    for (let i = 0; i < w.length; i++) w[i] = w[i]! / k[i % cin]!;
  }
}

/** What a channel's spread is measured by: its calibrated extremes, or its root mean square. */
export type EqualizeStatistic = 'range' | 'rms';

/**
 * The per-channel factors for one stream from calibration statistics of the unrewritten graph: a channel's
 * width is its span (max − min, with 0 included) over every value of the stream, or its root mean square
 * over the sampled elements of those values.
 */
export function streamFactors(stream: LinearStream, stats: Map<number, ValueStats>, strength: number, statistic: EqualizeStatistic = 'range'): { factors: Float64Array; widths: Float64Array } {
  const widths = new Float64Array(stream.channels);
  const squares = new Float64Array(stream.channels);
  const counts = new Float64Array(stream.channels);
  for (let c = 0; c < stream.channels; c++) {
    let lo = 0;
    let hi = 0;
    for (const v of stream.values) {
      const s = stats.get(v);
      if (!s) throw new Error(`internal: no calibration statistics for value ${v}`);
      lo = Math.min(lo, s.channelMin[c]!);
      hi = Math.max(hi, s.channelMax[c]!);
    }
    widths[c] = hi - lo;
  }
  if (statistic === 'rms') {
    for (const v of stream.values) {
      const s = stats.get(v)!;
      for (let i = 0; i < s.sample.length; i++) {
        squares[s.sampleChannel[i]!] += s.sample[i]! ** 2;
        counts[s.sampleChannel[i]!]++;
      }
    }
  }
  const spread = statistic === 'rms' ? squares.map((q, c) => Math.sqrt(q / Math.max(1, counts[c]!))) : widths;
  const widest = Math.max(...spread);
  // A channel that never moves carries nothing to rescale.
  const factors = spread.map((w) => (w > widest * 1e-6 ? Math.pow(widest / w, strength) : 1));
  return { factors, widths };
}

/** Rescales the statistics of a value whose channel c was multiplied by k[c] (k > 0), exactly. */
export function rescaleStats(s: ValueStats, k: Float64Array): void {
  for (let c = 0; c < k.length; c++) {
    s.channelMin[c] = s.channelMin[c]! * k[c]!;
    s.channelMax[c] = s.channelMax[c]! * k[c]!;
    s.channelMean[c] = s.channelMean[c]! * k[c]!;
  }
  for (let i = 0; i < s.sample.length; i++) s.sample[i] = s.sample[i]! * k[s.sampleChannel[i]!]!;
  s.min = Math.min(...s.channelMin);
  s.max = Math.max(...s.channelMax);
}

/**
 * Equalizes every linear stream of `graph` in place with factors from `stats` (collected on this graph
 * before the rewrite) and rescales those statistics to match, so calibration need not run again.
 * The float function of the graph is unchanged up to float rounding.
 */
export function equalizeLinearStreams(graph: IrGraph, stats: Map<number, ValueStats>, strength: number, statistic: EqualizeStatistic = 'range'): EqualizationReport {
  const report: EqualizationReport = { strength, statistic, streams: [] };
  if (!(strength > 0)) return report;
  for (const stream of findLinearStreams(graph)) {
    const { factors, widths } = streamFactors(stream, stats, strength, statistic);
    for (const op of stream.writers) scaleOutputs(op, factors);
    for (const op of stream.readers) unscaleInputs(op, factors);
    for (const v of stream.values) rescaleStats(stats.get(v)!, factors);
    const moving = [...widths.keys()].filter((c) => widths[c]! > 0);
    const before = moving.map((c) => widths[c]!);
    const after = moving.map((c) => widths[c]! * factors[c]!);
    report.streams.push({
      values: stream.values.map((v) => graph.values[v]!.name),
      channels: stream.channels,
      widthRatioBefore: Math.max(...before) / Math.min(...before),
      widthRatioAfter: Math.max(...after) / Math.min(...after),
      maxFactor: Math.max(...factors),
    });
  }
  return report;
}
