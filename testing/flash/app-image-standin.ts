import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../../host/util/errors.ts';

/** The bytes an ELF executable loads (its PT_LOAD segments' file contents), which is what an ESP app image carries. */
export function elfLoadedBytes(elf: Uint8Array, source: string): Uint8Array {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || elf[4] !== 2) throw new UserError(`${source}: not a 64-bit ELF file`);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (v.getUint32(at, true) !== 1) continue;
    const offset = Number(v.getBigUint64(at + 8, true));
    const size = Number(v.getBigUint64(at + 32, true));
    parts.push(elf.subarray(offset, offset + size));
  }
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A stand-in for the firmware app image where ESP-IDF is not installed: an ESP image header for the
 * ESP32-S3, the loaded segments of the firmware's portable code built for the host (sorter-sim), and
 * the built-in model the app embeds. Machine code for x86-64 and for Xtensa differ, but both are
 * dominated here by the int8 model, which compresses the same on either.
 */
export function firmwareAppStandIn(simBinary: string, builtinModel: string): { image: Uint8Array; codeBytes: number; modelBytes: number } {
  for (const f of [simBinary, builtinModel]) {
    if (!existsSync(f)) throw new UserError(`${f} is missing: build the simulator (zx scripts/build-native.mjs --target sorter-sim) and keep models/default.tflite`);
  }
  const code = elfLoadedBytes(new Uint8Array(readFileSync(simBinary)), simBinary);
  const model = new Uint8Array(readFileSync(builtinModel));
  const header = new Uint8Array(24);
  header.set([0xe9, 3, 2, 0x2f, 0, 0, 0x38, 0x40, 0xee, 0, 0, 0, 9, 0]);
  return { image: new Uint8Array(Buffer.concat([header, code, model])), codeBytes: code.length, modelBytes: model.length };
}
