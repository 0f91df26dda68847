/**
 * A Predictor over a `.tflite` file, run by LiteRT in Node (tflite/litert.ts). Labels, input size and
 * resize policy come from the model's `plastisort` metadata (tflite/plastisort-metadata.ts). Input follows the model
 * contract: an int8 input gets q = p − 128 for each RGB888 byte p (exactly what the firmware feeds);
 * a uint8 input gets p; a float32 input gets p · scale + offset from the metadata's float scaling.
 * Outputs are dequantized with the output tensor's own scale and zero point.
 */
import { loadLiteRtModel, type LiteRtArray, type LiteRtModel } from '../tflite/litert.ts';
import type { PlastisortMetadata, Quantization, TfliteModel } from '../tflite/model.ts';
import { readTflite } from '../tflite/reader.ts';
import { getPlastisortMetadata } from '../tflite/plastisort-metadata.ts';
import { requireSoundModel } from '../tflite/validate.ts';
import { UserError } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import { asBytes, readInputFile } from '../util/read-input.ts';
import type { Predictor } from '../shared/predictor.ts';

export interface TflitePredictorOptions {
  /** Overrides for models without plastisort metadata (e.g. a stock ImageNet model). */
  labels?: string[];
  resize?: 'squash' | 'center-crop';
  floatScaling?: { scale: number; offset: number };
}

export interface TflitePredictor extends Predictor {
  readonly path: string;
  readonly sha256: string;
  readonly metadata: PlastisortMetadata | undefined;
  readonly model: TfliteModel;
  /** Input element type of the model: how bytes are fed. */
  readonly inputType: 'int8' | 'uint8' | 'float32';
  /** The raw output tensor of each image (int8/uint8 codes for a quantized model), before dequantization. */
  predictRaw(images: Uint8Array[]): Promise<LiteRtArray[]>;
  dispose(): void;
}

function perTensor(q: Quantization | undefined): { scale: number; zeroPoint: number } | undefined {
  if (!q || q.scale.length === 0) return undefined;
  return { scale: q.scale[0]!, zeroPoint: q.zeroPoint[0] ?? 0 };
}

export async function loadTflitePredictor(path: string, opts: TflitePredictorOptions = {}): Promise<TflitePredictor> {
  const bytes = asBytes(await readInputFile(path, 'the model', 'check the path'));
  const model = readTflite(bytes, path);
  requireSoundModel(model, path);
  const metadata = getPlastisortMetadata(model);
  const labels = opts.labels ?? metadata?.labels;
  if (!labels || labels.length === 0) {
    throw new UserError(`${path}: no plastisort metadata with labels; create the model with plastisort quantize`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UserError(`${path}: expected one input and one output tensor, found ${model.inputs.length} and ${model.outputs.length}`);
  }
  const inT = model.tensors[model.inputs[0]!]!;
  const outT = model.tensors[model.outputs[0]!]!;
  const [batch, h, w, c] = inT.shape;
  if (inT.shape.length !== 4 || batch !== 1 || h !== w || c !== 3) {
    throw new UserError(`${path}: input shape [${inT.shape.join(',')}] is not [1,S,S,3]`);
  }
  const size = h!;
  if (metadata && metadata.inputSize !== size) {
    throw new UserError(`${path}: metadata says input ${metadata.inputSize} but the input tensor is ${size}×${size}; re-create the model`);
  }
  const outCount = outT.shape.reduce((a, b) => a * b, 1);
  if (outCount !== labels.length) {
    throw new UserError(`${path}: the output has ${outCount} values but there are ${labels.length} labels`);
  }
  if (inT.type !== 'int8' && inT.type !== 'uint8' && inT.type !== 'float32') {
    throw new UserError(`${path}: input type ${inT.type} is not supported (int8, uint8 or float32)`);
  }
  const inputType = inT.type;
  const scaling = opts.floatScaling ?? metadata?.floatScaling;
  if (inputType === 'float32' && !scaling) {
    throw new UserError(`${path}: float input but no float scaling in the metadata; create the model with plastisort quantize`);
  }
  const outQ = outT.type === 'int8' || outT.type === 'uint8' ? perTensor(outT.quantization) : undefined;
  if ((outT.type === 'int8' || outT.type === 'uint8') && !outQ) {
    throw new UserError(`${path}: the ${outT.type} output tensor has no quantization parameters`);
  }

  const rt: LiteRtModel = await loadLiteRtModel(bytes, path);
  const pixels = size * size * 3;

  const toInput = (img: Uint8Array): LiteRtArray => {
    if (img.length !== pixels) throw new Error(`image has ${img.length} bytes, expected ${pixels} (${size}×${size}×3)`);
    if (inputType === 'int8') {
      const q = new Int8Array(pixels);
      for (let i = 0; i < pixels; i++) q[i] = img[i]! - 128;
      return q;
    }
    if (inputType === 'uint8') return Uint8Array.from(img);
    const f = new Float32Array(pixels);
    for (let i = 0; i < pixels; i++) f[i] = img[i]! * scaling!.scale + scaling!.offset;
    return f;
  };

  const predictRaw = async (images: Uint8Array[]): Promise<LiteRtArray[]> => {
    const out: LiteRtArray[] = [];
    // LiteRT models here have batch size 1 (as on the device): one invoke per image.
    for (const img of images) out.push((await rt.run([toInput(img)]))[0]!);
    return out;
  };

  return {
    path,
    sha256: sha256Hex(bytes),
    metadata,
    model,
    inputType,
    classes: [...labels],
    inputSize: size,
    resize: opts.resize ?? metadata?.resize ?? 'squash',
    predictRaw,
    async predict(images: Uint8Array[]): Promise<Float32Array[]> {
      const raw = await predictRaw(images);
      return raw.map((r) => {
        const f = new Float32Array(r.length);
        if (outQ) for (let i = 0; i < r.length; i++) f[i] = (r[i]! - outQ.zeroPoint) * outQ.scale;
        else f.set(r);
        return f;
      });
    },
    dispose() {
      rt.dispose();
    },
  };
}
