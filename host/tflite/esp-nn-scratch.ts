import type { Operator, Padding, TfliteModel } from './model.ts';

/**
 * Scratch buffers that the kernels running on the ESP32-S3 request from TFLM's arena during
 * Prepare (`RequestScratchBufferInArena`). TFLM places each one in the same greedy plan as the
 * activations, alive only while its operator runs, so a large request raises the arena's peak.
 *
 * CONV_2D and DEPTHWISE_CONV_2D: esp-tflite-micro's ESP-NN kernels ask for what esp-nn's
 * `esp_nn_get_conv_scratch_size_esp32s3` / `esp_nn_get_depthwise_conv_scratch_size_esp32s3` return
 * for the layer's geometry (TFLM's SAME/VALID padding, dilation 1). Those functions changed between
 * esp-nn releases; both forms read in esp-nn's `src/convolution/esp_nn_conv_esp32s3.c` and
 * `esp_nn_depthwise_conv_s8_esp32s3.c` are here:
 *
 * - `legacy` (esp-nn 1.1.x and 1.2.0): a 1×1 stride-1 unpadded convolution copies its filter with
 *   channels padded to 8 (plus the input when channels are not a multiple of 8) and a transpose
 *   buffer, 32 B alignment slack; other convolutions copy the filter with channels padded to 16 and
 *   the input padded on all sides. A 3×3 depthwise layer with channels % 16 == 0 copies the filter
 *   and the whole padded input (right/bottom padding included), other multiple-of-8 ones widen filter
 *   and input to int16.
 * - `current` (esp-nn 1.2.x after 1.2.0, through 1.3.x): 64 B alignment and access margin; 3×3
 *   convolutions over few channels use an im2col buffer; other convolutions add a 16-aligned
 *   filter-row copy and right/bottom padding; depthwise inputs above 40 KB (3×3) or 48 KB (other
 *   kernels, int16) are processed in row strips.
 *
 * SOFTMAX (ESP-NN): one int32 per class. MEAN (TFLM's reference kernel, int8): one int32 per output
 * element. FULLY_CONNECTED, ADD, pooling and RESHAPE request no scratch.
 *
 * Checked against the board measurements in issue 13 for models/default.tflite (MobileNetV2, 96×96):
 * `current` gives Conv_1 (1×1, 320 → 1280 channels) 414,784 B, the largest request, as measured with
 * esp-nn 1.2.x; `legacy` makes block_1_depthwise (3×3/2 over 48×48×96) the largest at 240,880 B.
 */
export type EspNnVersion = 'legacy' | 'current';

export const ESP_NN_VERSIONS: readonly { id: EspNnVersion; releases: string }[] = [
  { id: 'legacy', releases: 'esp-nn 1.1.x, 1.2.0' },
  { id: 'current', releases: 'esp-nn 1.2.1 and later 1.2.x, 1.3.x' },
];

interface ConvGeometry {
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** TFLM's ComputePaddingHeightWidth for dilation 1: the leading (top/left) padding. */
function leadingPadding(padding: Padding, stride: number, input: number, filter: number, output: number): number {
  if (padding !== 'SAME') return 0;
  return Math.floor(Math.max((output - 1) * stride + filter - input, 0) / 2);
}

function convGeometry(model: TfliteModel, op: Operator): ConvGeometry | undefined {
  if (op.op !== 'CONV_2D' && op.op !== 'DEPTHWISE_CONV_2D') return undefined;
  const input = model.tensors[op.inputs[0] ?? -1];
  const filter = model.tensors[op.inputs[1] ?? -1];
  const output = model.tensors[op.outputs[0] ?? -1];
  if (!input || !filter || !output) return undefined;
  if (input.shape.length !== 4 || filter.shape.length !== 4 || output.shape.length !== 4) return undefined;
  // esp-tflite-micro sends dilated convolutions to TFLM's reference kernel, which asks for nothing.
  if (op.options.dilationH !== 1 || op.options.dilationW !== 1) return undefined;
  const [, inH, inW, inC] = input.shape as [number, number, number, number];
  const [, kH, kW] = filter.shape as [number, number, number, number];
  const [, outH, outW, outC] = output.shape as [number, number, number, number];
  const { strideH, strideW, padding } = op.options;
  return {
    inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW,
    padH: leadingPadding(padding, strideH, inH, kH, outH),
    padW: leadingPadding(padding, strideW, inW, kW, outW),
  };
}

function convScratch(g: ConvGeometry, version: EspNnVersion): number {
  const pointwise = g.kW === 1 && g.kH === 1 && g.padW === 0 && g.padH === 0 && g.strideW === 1 && g.strideH === 1;
  const slack = version === 'legacy' ? 32 : 64;
  if (pointwise) {
    const c8 = align(g.inC, 8);
    const transpose = g.inW * g.inH < 8 ? 0 : 2 * 8 * c8;
    const paddedInput = g.inC % 8 ? g.inW * g.inH * c8 : 0;
    return paddedInput + c8 * g.outC + transpose + slack;
  }
  const c16 = align(g.inC, 16);
  if (version === 'legacy') {
    const paddedInput = g.padW === 0 && g.padH === 0 ? 0 : (g.inW + 2 * g.padW) * (g.inH + 2 * g.padH) * g.inC;
    return paddedInput + g.kW * g.kH * c16 * g.outC + slack + 4 * g.outC;
  }
  const row = g.kW * g.inC;
  const window = g.kW * g.kH * g.inC;
  if (row < 16 && window >= 16) {
    const w16 = align(window, 16);
    return 4 * g.outC + 16 + g.outC * w16 + 16 + w16 + slack;
  }
  const padRight = Math.max(0, (g.outW - 1) * g.strideW + g.kW - g.padW - g.inW);
  const padBottom = Math.max(0, (g.outH - 1) * g.strideH + g.kH - g.padH - g.inH);
  const paddedInput =
    g.padW === 0 && g.padH === 0 && padRight === 0 && padBottom === 0
      ? 0
      : (g.inW + g.padW + padRight) * (g.inH + g.padH + padBottom) * g.inC;
  return paddedInput + g.kW * g.kH * c16 * g.outC + align(row, 16) * g.kH * g.outC + slack + 4 * g.outC;
}

function depthwiseScratch(g: ConvGeometry, mult: number, version: EspNnVersion): number {
  const filter = g.kW * g.kH * g.inC * mult;
  const input = g.inW * g.inH * g.inC;
  const is3x3 = g.kW === 3 && g.kH === 3;
  // Right/bottom padding the kernel adds when TFLM's padding is zero.
  const endPad = () => [(g.outW * g.strideW + g.kW - 1) - g.inW, (g.outH * g.strideH + g.kH - 1) - g.inH];
  if (version === 'legacy') {
    if (mult === 1 && g.inC % 8 === 0 && is3x3) {
      if (g.inC % 16 !== 0) return 2 * (filter + input) + 16;
      const [pw, ph] = g.padW || g.padH ? [2 * g.padW, 2 * g.padH] : endPad();
      return pw || ph ? filter + (g.inW + pw!) * (g.inH + ph!) * g.inC + 16 : filter + 16;
    }
    return mult % 4 === 0 ? 2 * (filter + input) + 16 : 32;
  }
  if (mult === 1 && g.inC % 8 === 0) {
    if (!is3x3) {
      const s16 = 2 * (filter + input);
      return s16 <= 48 * 1024 ? s16 + 32 : 2 * filter + 2 * g.inW * g.kH * g.inC + 32;
    }
    if (g.inC % 16 === 0) {
      const [pw, ph] = g.padW || g.padH ? [2 * g.padW, 2 * g.padH] : endPad();
      if (!pw && !ph) return filter + 16;
      const full = (g.inW + pw!) * (g.inH + ph!) * g.inC;
      return full <= 40 * 1024 ? filter + full + 16 : filter + (g.inW + pw!) * g.kH * g.inC + 16;
    }
    if (g.inC >= 12) {
      const c16 = align(g.inC, 16);
      const padW = 2 * g.padW + Math.max(0, g.outW * g.strideW + 2 - g.inW);
      const padH = 2 * g.padH + Math.max(0, g.outH * g.strideH + 2 - g.inH);
      return 9 * c16 + (g.inW + padW) * (g.inH + padH) * c16 + g.outW * g.outH * c16 + 64;
    }
    return 2 * (filter + input) + 32;
  }
  if (mult === 1 && g.inC > 3) {
    const c8 = align(g.inC, 8);
    const inputStart = align(g.kW * g.kH * c8 * 2, 16);
    const outStart = align(inputStart + g.inW * g.inH * c8 * 2, 16);
    const biasStart = align(outStart + g.outW * g.outH * c8, 16);
    return biasStart + 3 * c8 * 4 + 16;
  }
  return mult % 4 === 0 ? 2 * (filter + input) + 32 : 32;
}

/** Bytes operator `opIndex` asks TFLM for on an ESP32-S3 with the given esp-nn; 0 for none. */
export function scratchBytes(model: TfliteModel, opIndex: number, version: EspNnVersion): number {
  const op = model.operators[opIndex];
  if (!op) return 0;
  if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') {
    const g = convGeometry(model, op);
    if (!g || model.tensors[op.inputs[0]!]!.type !== 'int8') return 0;
    return op.op === 'CONV_2D' ? convScratch(g, version) : depthwiseScratch(g, op.options.depthMultiplier, version);
  }
  if (op.op === 'SOFTMAX') {
    const input = model.tensors[op.inputs[0] ?? -1];
    return input?.type === 'int8' ? 4 * (input.shape[input.shape.length - 1] ?? 0) : 0;
  }
  if (op.op === 'MEAN') {
    const output = model.tensors[op.outputs[0] ?? -1];
    return output?.type === 'int8' ? 4 * output.shape.reduce((a, b) => a * b, 1) : 0;
  }
  return 0;
}
