import type { IrGraph } from './ir.ts';

/**
 * Cancels a constant input offset δ in the convolutions reading the graph input: conv(x + δ) = conv(x) +
 * δ·Σw inside the image, so bias −= δ·Σw. Exact except where a window overlaps the zero padding.
 * Returns the names of the ops changed (none when another op reads the input).
 */
export function compensateInputOffset(graph: IrGraph, delta: number): string[] {
  if (delta === 0) return [];
  const readers = graph.ops.filter((op) => op.inputs.includes(graph.input));
  if (readers.length === 0 || !readers.every((op) => op.kind === 'CONV_2D' || op.kind === 'DEPTHWISE_CONV_2D')) return [];
  for (const op of readers) {
    if (op.kind !== 'CONV_2D' && op.kind !== 'DEPTHWISE_CONV_2D') continue;
    const cout = op.bias.length;
    const sums = new Float64Array(cout);
    if (op.kind === 'CONV_2D') {
      const per = op.weights.length / cout;
      for (let o = 0; o < cout; o++) for (let j = 0; j < per; j++) sums[o] += op.weights[o * per + j]!;
    } else {
      for (let i = 0; i < op.weights.length; i++) sums[i % cout] += op.weights[i]!;
    }
    for (let o = 0; o < cout; o++) op.bias[o] = op.bias[o]! - delta * sums[o]!;
  }
  return readers.map((op) => op.name);
}
