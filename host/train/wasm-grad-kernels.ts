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

/**
 * Everything below is one self-contained function of the tfjs namespace it is given, referring to nothing
 * else of this module: training workers (parallel-fit.ts) rebuild it from its source text in their own
 * tfjs instance, which works the same under tsx, vitest and the esbuild bundle (no separate worker file).
 */
export function defineWasmGradientKernels(tfjs: typeof tf) {
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
    return tfjs.backend_util.computeConv2DInfo(
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
  function conv2dBackpropFilterLoops(x: Float32Array, dy: Float32Array, c: Conv2DInfo): Float32Array {
    const { inChannels, outChannels } = c;
    const dW = new Float32Array(c.filterHeight * c.filterWidth * inChannels * outChannels);
    forEachFilterTap(c, (xBase, dyBase, tap) => {
      const wBase = tap * inChannels * outChannels;
      for (let ci = 0; ci < inChannels; ci++) {
        const xv = x[xBase + ci];
        if (xv === 0) continue;
        const wRow = wBase + ci * outChannels;
        for (let co = 0; co < outChannels; co++) dW[wRow + co] += xv * dy[dyBase + co];
      }
    });
    return dW;
  }

  /**
   * Calls `visit(xBase, dyBase, tap)` for every (batch, output pixel, filter tap) whose input pixel lies
   * inside the image: the element offsets of that input pixel and output pixel (NHWC) and the tap's
   * index kh·filterWidth + kw. The filter and input gradients all walk these taps; only what they
   * accumulate per channel differs.
   */
  function forEachFilterTap(c: Conv2DInfo, visit: (xBase: number, dyBase: number, tap: number) => void): void {
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = c;
    const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
    const top = c.padInfo.top;
    const left = c.padInfo.left;
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
              visit(((b * inHeight + ih) * inWidth + iw) * inChannels, dyBase, kh * filterWidth + kw);
            }
          }
        }
      }
    }
  }

  /** dW[kh,kw,c,m] = Σ_{b,oh,ow} x[b, ih, iw, c] · dy[b,oh,ow,c·M+m] */
  function depthwiseBackpropFilterLoops(x: Float32Array, dy: Float32Array, c: Conv2DInfo): Float32Array {
    const channels = c.inChannels;
    const mult = c.outChannels / channels;
    const dW = new Float32Array(c.filterHeight * c.filterWidth * c.outChannels);
    forEachFilterTap(c, (xBase, dyBase, tap) => {
      const wBase = tap * c.outChannels;
      if (mult === 1) {
        for (let ch = 0; ch < channels; ch++) dW[wBase + ch] += x[xBase + ch] * dy[dyBase + ch];
        return;
      }
      for (let ch = 0; ch < channels; ch++) {
        const xv = x[xBase + ch];
        for (let m = 0; m < mult; m++) {
          const o = ch * mult + m;
          dW[wBase + o] += xv * dy[dyBase + o];
        }
      }
    });
    return dW;
  }

  /** dx[b,ih,iw,c] = Σ_{kh,kw,m} dy[b,oh,ow,c·M+m] · W[kh,kw,c,m] over the (oh,ow) that read (ih,iw). */
  function depthwiseBackpropInputLoops(dy: Float32Array, w: Float32Array, c: Conv2DInfo): Float32Array {
    const channels = c.inChannels;
    const mult = c.outChannels / channels;
    const dx = new Float32Array(c.batchSize * c.inHeight * c.inWidth * channels);
    forEachFilterTap(c, (xBase, dyBase, tap) => {
      const wBase = tap * c.outChannels;
      if (mult === 1) {
        for (let ch = 0; ch < channels; ch++) dx[xBase + ch] += dy[dyBase + ch] * w[wBase + ch];
        return;
      }
      for (let ch = 0; ch < channels; ch++) {
        let sum = 0;
        for (let m = 0; m < mult; m++) sum += dy[dyBase + ch * mult + m] * w[wBase + ch * mult + m];
        dx[xBase + ch] += sum;
      }
    });
    return dx;
  }

  /**
   * The wasm backend's BatchMatMul is about ten times slower with a transposed operand than without
   * (measured: 880 ms against 75 ms for 784×960 · 784×160), so operands are transposed explicitly by its
   * Transpose kernel (≈35 ms) and multiplied plainly. Returns a [m, n] TensorInfo owned by the caller.
   */
  function pointwiseMatMul(
    wasm: BackendWasm,
    a: tf.TensorInfo,
    aShape: [number, number],
    transposeA: boolean,
    b: tf.TensorInfo,
    bShape: [number, number],
    transposeB: boolean,
  ): tf.TensorInfo {
    const reshape = tfjs.getKernel('Reshape', 'wasm')!.kernelFunc;
    const transpose = tfjs.getKernel('Transpose', 'wasm')!.kernelFunc;
    const matMul = tfjs.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    const temps: tf.TensorInfo[] = [];
    const prep = (t: tf.TensorInfo, shape: [number, number], tr: boolean) => {
      const r = reshape({ inputs: { x: t }, backend: wasm, attrs: { shape: [1, ...shape] } }) as tf.TensorInfo;
      temps.push(r);
      if (!tr) return r;
      const tt = transpose({ inputs: { x: r }, backend: wasm, attrs: { perm: [0, 2, 1] } }) as tf.TensorInfo;
      temps.push(tt);
      return tt;
    };
    const a3 = prep(a, aShape, transposeA);
    const b3 = prep(b, bShape, transposeB);
    const prod = matMul({ inputs: { a: a3, b: b3 }, backend: wasm, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
    for (const t of temps) wasm.disposeData(t.dataId);
    return prod;
  }

  function reshapeTo(wasm: BackendWasm, t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    const reshape = tfjs.getKernel('Reshape', 'wasm')!.kernelFunc;
    const out = reshape({ inputs: { x: t }, backend: wasm, attrs: { shape } }) as tf.TensorInfo;
    wasm.disposeData(t.dataId);
    return out;
  }

  function isPointwise(c: Conv2DInfo): boolean {
    return (
      c.filterHeight === 1 &&
      c.filterWidth === 1 &&
      c.strideHeight === 1 &&
      c.strideWidth === 1 &&
      c.padInfo.top === 0 &&
      c.padInfo.left === 0
    );
  }

  function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
    const wasm = backend as BackendWasm;
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const filterShape = (attrs!.filterShape as number[]).slice();
    const c = convInfo(x.shape, filterShape, attrs!, false);
    if (isPointwise(c)) {
      const pixels = c.batchSize * c.outHeight * c.outWidth;
      const out = pointwiseMatMul(wasm, x, [pixels, c.inChannels], true, dy, [pixels, c.outChannels], false);
      return reshapeTo(wasm, out, filterShape);
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

  /**
   * Upstream's wasm Conv2DBackpropInput is a plain C++ loop; for 1×1 stride-1 convolutions (most of the
   * trainable tail) dx = dy · Wᵀ as one matrix multiply is ~10× faster. Other shapes keep upstream's kernel.
   */
  function makeConv2DBackpropInput(upstream: tf.KernelFunc) {
    return (args: KernelArgs): tf.TensorInfo => {
      const wasm = args.backend as BackendWasm;
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const inputShape = (args.attrs!.inputShape as number[]).slice();
      const c = convInfo(inputShape, filter.shape, args.attrs!, false);
      if (!isPointwise(c)) return upstream(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
      const pixels = c.batchSize * c.outHeight * c.outWidth;
      const out = pointwiseMatMul(wasm, dy, [pixels, c.outChannels], false, filter, [c.inChannels, c.outChannels], true);
      return reshapeTo(wasm, out, inputShape);
    };
  }

  /** dx = dy where min ≤ x ≤ max, else 0, in one pass (ReLU6 layers are ClipByValue(0, 6) in tfjs-layers). */
  const CLIP_GRAD_KERNEL = 'PlastisortClipByValueGrad';

  function clipByValueGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
    const wasm = backend as BackendWasm;
    const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const lo = attrs!.clipValueMin as number;
    const hi = attrs!.clipValueMax as number;
    const out = wasm.makeOutput(x.shape, 'float32');
    // Views straight into the wasm heap: makeOutput above was the last allocation.
    const xv = wasm.typedArrayFromHeap(x) as Float32Array;
    const dv = wasm.typedArrayFromHeap(dy) as Float32Array;
    const ov = wasm.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < ov.length; i++) {
      const v = xv[i];
      ov[i] = v >= lo && v <= hi ? dv[i] : 0;
    }
    return out;
  }

  /**
   * The stock ClipByValue gradient is five elementwise kernels (≥, ≤, and, zerosLike, where); on wasm
   * they cost ~30% of a fine-tuning step of MobileNetV2's tail. On wasm this gradient runs the one-pass
   * kernel above; on other backends it computes exactly the stock formula.
   */
  function registerClipByValueGradient(): void {
    tfjs.registerKernel({ kernelName: CLIP_GRAD_KERNEL, backendName: 'wasm', kernelFunc: clipByValueGrad as unknown as tf.KernelFunc });
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number };
      return {
        x: () =>
          tfjs.getBackend() === 'wasm' && g.dtype === 'float32' && x.dtype === 'float32'
            ? (tfjs.engine().runKernel(CLIP_GRAD_KERNEL, { dy: g, x }, { clipValueMin, clipValueMax }) as tf.Tensor)
            : tfjs.where(tfjs.logicalAnd(tfjs.greaterEqual(x, clipValueMin), tfjs.lessEqual(x, clipValueMax)), g, tfjs.zerosLike(g)),
      };
    };
    // Silence the "overriding gradient" warning for this one deliberate replacement.
    const warn = console.warn;
    console.warn = () => {};
    try {
      tfjs.registerGradient({ kernelName: 'ClipByValue', inputsToSave: ['x'], gradFunc });
    } finally {
      console.warn = warn;
    }
  }

  const WASM_GRADIENT_KERNELS = [
    'Conv2DBackpropFilter',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
  ] as const;

  /** Registers the missing kernels on the 'wasm' backend; a kernel that upstream already provides is left alone. */
  function registerWasmGradientKernels(): string[] {
    const impls: Record<(typeof WASM_GRADIENT_KERNELS)[number], (a: KernelArgs) => tf.TensorInfo> = {
      Conv2DBackpropFilter: conv2DBackpropFilter,
      DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
      DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
    };
    const registered: string[] = [];
    for (const name of WASM_GRADIENT_KERNELS) {
      if (tfjs.getKernel(name, 'wasm')) continue;
      tfjs.registerKernel({
        kernelName: name,
        backendName: 'wasm',
        kernelFunc: impls[name] as unknown as tf.KernelFunc,
      });
      registered.push(name);
    }
    if (!tfjs.getKernel(CLIP_GRAD_KERNEL, 'wasm')) {
      registerClipByValueGradient();
      registered.push('ClipByValue gradient (one pass)');
    }
    const upstream = tfjs.getKernel('Conv2DBackpropInput', 'wasm');
    if (upstream && !(upstream as { plastisort?: boolean }).plastisort) {
      tfjs.unregisterKernel('Conv2DBackpropInput', 'wasm');
      const config = {
        kernelName: 'Conv2DBackpropInput',
        backendName: 'wasm',
        kernelFunc: makeConv2DBackpropInput(upstream.kernelFunc) as unknown as tf.KernelFunc,
        setupFunc: upstream.setupFunc,
        disposeFunc: upstream.disposeFunc,
        plastisort: true,
      };
      tfjs.registerKernel(config);
      registered.push('Conv2DBackpropInput (1×1 fast path)');
    }
    return registered;
  }

  return {
    CLIP_GRAD_KERNEL,
    WASM_GRADIENT_KERNELS,
    conv2dBackpropFilterLoops,
    depthwiseBackpropFilterLoops,
    depthwiseBackpropInputLoops,
    registerWasmGradientKernels,
  };
}

const kernels = defineWasmGradientKernels(tf);
export const CLIP_GRAD_KERNEL = kernels.CLIP_GRAD_KERNEL;
export const WASM_GRADIENT_KERNELS = kernels.WASM_GRADIENT_KERNELS;
export const conv2dBackpropFilterLoops = kernels.conv2dBackpropFilterLoops;
export const depthwiseBackpropFilterLoops = kernels.depthwiseBackpropFilterLoops;
export const depthwiseBackpropInputLoops = kernels.depthwiseBackpropInputLoops;
/** Registers the missing kernels on the 'wasm' backend; a kernel that upstream already provides is left alone. */
export const registerWasmGradientKernels = kernels.registerWasmGradientKernels;
