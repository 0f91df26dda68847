import { createHash } from 'node:crypto';
import { crc32 } from '../util/crc32.ts';
import { UserError } from '../util/errors.ts';

/**
 * The 64-byte header in front of a model in the `model` partition; byte layout in
 * firmware/components/sorter_core/include/sorter/model_partition.h and docs/firmware.md:
 * magic "PSMD", version 1, header size 64, model length, flags, SHA-256, reserved, CRC-32 of 0..59.
 */
export const MODEL_HEADER_SIZE = 64;

export function buildModelPartitionImage(model: Uint8Array, source = 'model'): Uint8Array {
  if (model.length < 8 || new TextDecoder().decode(model.subarray(4, 8)) !== 'TFL3') {
    throw new UserError(`${source}: not a TFLite model (no "TFL3" identifier); pass the .tflite written by plastisort quantize`);
  }
  const out = new Uint8Array(MODEL_HEADER_SIZE + model.length);
  const v = new DataView(out.buffer);
  out.set([0x50, 0x53, 0x4d, 0x44], 0);
  v.setUint16(4, 1, true);
  v.setUint16(6, MODEL_HEADER_SIZE, true);
  v.setUint32(8, model.length, true);
  v.setUint32(12, 0, true);
  out.set(createHash('sha256').update(model).digest(), 16);
  v.setUint32(60, crc32(out.subarray(0, 60)), true);
  out.set(model, MODEL_HEADER_SIZE);
  return out;
}
