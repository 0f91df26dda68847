import { UserError } from '../util/errors.ts';

/** One entry of an ESP-IDF binary partition table (32 bytes each, magic 0xAA 0x50). */
export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  flags: number;
}

export const PARTITION_TYPE_APP = 0x00;
export const PARTITION_TYPE_DATA = 0x01;
export const MODEL_PARTITION_LABEL = 'model';

export function parsePartitionTable(bin: Uint8Array, source: string): PartitionEntry[] {
  const entries: PartitionEntry[] = [];
  const v = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let at = 0; at + 32 <= bin.length; at += 32) {
    const m0 = bin[at];
    const m1 = bin[at + 1];
    if (m0 === 0xaa && m1 === 0x50) {
      const labelBytes = bin.subarray(at + 12, at + 28);
      const end = labelBytes.indexOf(0);
      entries.push({
        type: bin[at + 2]!,
        subtype: bin[at + 3]!,
        offset: v.getUint32(at + 4, true),
        size: v.getUint32(at + 8, true),
        label: new TextDecoder().decode(labelBytes.subarray(0, end < 0 ? 16 : end)),
        flags: v.getUint32(at + 28, true),
      });
    } else if (m0 === 0xeb && m1 === 0xeb) {
      continue; // MD5 of the table
    } else if (m0 === 0xff && m1 === 0xff) {
      break;
    } else {
      throw new UserError(`${source}: not an ESP-IDF partition table (bad entry magic at byte ${at}); rebuild the firmware`);
    }
  }
  if (entries.length === 0) throw new UserError(`${source}: the partition table has no entries; rebuild the firmware`);
  return entries;
}

/** Builds a binary table; used by tests and the emulator benchmark to stand in for an ESP-IDF build. */
export function buildPartitionTable(entries: PartitionEntry[]): Uint8Array {
  const out = new Uint8Array(0xc00).fill(0xff);
  const v = new DataView(out.buffer);
  entries.forEach((e, i) => {
    const at = i * 32;
    out[at] = 0xaa;
    out[at + 1] = 0x50;
    out[at + 2] = e.type;
    out[at + 3] = e.subtype;
    v.setUint32(at + 4, e.offset, true);
    v.setUint32(at + 8, e.size, true);
    out.fill(0, at + 12, at + 28);
    out.set(new TextEncoder().encode(e.label).subarray(0, 16), at + 12);
    v.setUint32(at + 28, e.flags, true);
  });
  return out;
}

export function parseFlashSize(text: string): number {
  const m = /^(\d+)\s*(MB|KB)$/i.exec(text.trim());
  if (!m) throw new UserError(`flash size "${text}" is not like "8MB"; fix flash_settings in flasher_args.json`);
  return Number(m[1]) * (m[2]!.toUpperCase() === 'MB' ? 1024 * 1024 : 1024);
}
