/**
 * The three gradient kernels that `@tensorflow/tfjs-backend-wasm` 4.22 lacks, so that a model with
 * trainable convolutions can be trained on the wasm backend:
 * - `Conv2DBackpropFilter` (filter gradient of Conv2D),
 * - `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`.
 *
 * A 1×1, stride-1 convolution is a matrix multiply over the pixels, so its filter gradient
 * (`xᵀ · dy`) goes to the wasm backend's own BatchMatMul (XNNPACK); that is most of MobileNetV2's
 * trainable tail. Every other shape runs plain loops over the NHWC buffers: the depthwise work of the
 * tail (7×7 and 14×14 maps) is small next to the 1×1 layers.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

function readF32(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return backend.readSync(t.dataId) as Float32Array;
}

function output(backend: BackendWasm, shape: number[], values: Float32Array): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(values);
  return out;
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
  depthwise: boolean,
): Conv2DInfo {
  const strides = attrs.strides as number | [number, number];
  const dilations = (attrs.dilations as number | [number, number] | undefined) ?? 1;
  const pad = attrs.pad as 'same' | 'valid' | number;
  const rounding = attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined;
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC') throw new Error('wasm gradient kernels support NHWC only');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad as 'same',
    rounding,
    depthwise,
  );
}

/** dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh + kh·dh − top, ow·sw + kw·dw − left, ci] · dy[b,oh,ow,co] */
export function conv2dBackpropFilterLoops(x: Float32Array, dy: Float32Array, c: Conv2DInfo): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = c;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const dW = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - left;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((b * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (kh * filterWidth + kw) * inChannels * outChannels;
            for (let ci = 0; ci < inChannels; ci++) {
              const xv = x[xBase + ci];
              if (xv === 0) continue;
              const wRow = wBase + ci * outChannels;
              for (let co = 0; co < outChannels; co++) dW[wRow + co] += xv * dy[dyBase + co];
            }
          }
        }
      }
    }
  }
  return dW;
}

/** dW[kh,kw,c,m] = Σ_{b,oh,ow} x[b, ih, iw, c] · dy[b,oh,ow,c·M+m] */
export function depthwiseBackpropFilterLoops(x: Float32Array, dy: Float32Array, c: Conv2DInfo): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = c;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const mult = outChannels / inChannels;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const dW = new Float32Array(filterHeight * filterWidth * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - left;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((b * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (kh * filterWidth + kw) * outChannels;
            if (mult === 1) {
              for (let ch = 0; ch < inChannels; ch++) dW[wBase + ch] += x[xBase + ch] * dy[dyBase + ch];
            } else {
              for (let ch = 0; ch < inChannels; ch++) {
                const xv = x[xBase + ch];
                for (let m = 0; m < mult; m++) {
                  const o = ch * mult + m;
                  dW[wBase + o] += xv * dy[dyBase + o];
                }
              }
            }
          }
        }
      }
    }
  }
  return dW;
}

/** dx[b,ih,iw,c] = Σ_{kh,kw,m} dy[b,oh,ow,c·M+m] · W[kh,kw,c,m] over the (oh,ow) that read (ih,iw). */
export function depthwiseBackpropInputLoops(dy: Float32Array, w: Float32Array, c: Conv2DInfo): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = c;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const mult = outChannels / inChannels;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const dx = new Float32Array(batchSize * inHeight * inWidth * inChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - left;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((b * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (kh * filterWidth + kw) * outChannels;
            if (mult === 1) {
              for (let ch = 0; ch < inChannels; ch++) dx[xBase + ch] += dy[dyBase + ch] * w[wBase + ch];
            } else {
              for (let ch = 0; ch < inChannels; ch++) {
                let s = 0;
                for (let m = 0; m < mult; m++) s += dy[dyBase + ch * mult + m] * w[wBase + ch * mult + m];
                dx[xBase + ch] += s;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = (attrs!.filterShape as number[]).slice();
  const c = convInfo(x.shape, filterShape, attrs!, false);
  const pointwise =
    c.filterHeight === 1 &&
    c.filterWidth === 1 &&
    c.strideHeight === 1 &&
    c.strideWidth === 1 &&
    c.padInfo.top === 0 &&
    c.padInfo.left === 0;
  if (pointwise) {
    const pixels = c.batchSize * c.outHeight * c.outWidth;
    const reshape = tf.getKernel('Reshape', 'wasm')!.kernelFunc;
    const matMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    const x3 = reshape({ inputs: { x }, backend: wasm, attrs: { shape: [1, pixels, c.inChannels] } }) as tf.TensorInfo;
    const dy3 = reshape({ inputs: { x: dy }, backend: wasm, attrs: { shape: [1, pixels, c.outChannels] } }) as tf.TensorInfo;
    const prod = matMul({
      inputs: { a: x3, b: dy3 },
      backend: wasm,
      attrs: { transposeA: true, transposeB: false },
    }) as tf.TensorInfo;
    const out = reshape({ inputs: { x: prod }, backend: wasm, attrs: { shape: filterShape } }) as tf.TensorInfo;
    wasm.disposeData(x3.dataId);
    wasm.disposeData(dy3.dataId);
    wasm.disposeData(prod.dataId);
    return out;
  }
  return output(wasm, filterShape, conv2dBackpropFilterLoops(readF32(wasm, x), readF32(wasm, dy), c));
}

function depthwiseConv2dNativeBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = (attrs!.filterShape as number[]).slice();
  const c = convInfo(x.shape, filterShape, attrs!, true);
  return output(wasm, filterShape, depthwiseBackpropFilterLoops(readF32(wasm, x), readF32(wasm, dy), c));
}

function depthwiseConv2dNativeBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = (attrs!.inputShape as number[]).slice();
  const c = convInfo(inputShape, filter.shape, attrs!, true);
  return output(wasm, inputShape, depthwiseBackpropInputLoops(readF32(wasm, dy), readF32(wasm, filter), c));
}

export const WASM_GRADIENT_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

/** Registers the missing kernels on the 'wasm' backend; a kernel that upstream already provides is left alone. */
export function registerWasmGradientKernels(): string[] {
  const impls: Record<(typeof WASM_GRADIENT_KERNELS)[number], (a: KernelArgs) => tf.TensorInfo> = {
    Conv2DBackpropFilter: conv2DBackpropFilter,
    DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
    DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
  };
  const registered: string[] = [];
  for (const name of WASM_GRADIENT_KERNELS) {
    if (tf.getKernel(name, 'wasm')) continue;
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: impls[name] as unknown as tf.KernelFunc,
    });
    registered.push(name);
  }
  return registered;
}
