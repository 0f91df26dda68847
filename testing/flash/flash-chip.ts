import { createHash } from 'node:crypto';

/**
 * Typical timings of a 3.3 V quad SPI NOR flash of the kind on ESP32-S3 modules (Winbond W25Q32JV
 * datasheet, "typ" column): 4 KiB sector erase 45 ms, 64 KiB block erase 150 ms, 256-byte page
 * program 0.4 ms. Worst-case figures are several times larger; typical ones keep the benchmark honest
 * without making it pessimistic.
 */
export const FLASH_TIMING = { sectorEraseMs: 45, blockEraseMs: 150, pageProgramMs: 0.4 } as const;
export const SECTOR = 0x1000;
const BLOCK = 0x10000;
const PAGE = 0x100;

/**
 * NOR flash as the ROM sees it: erase works on whole 4 KiB sectors (or 64 KiB blocks), programming can
 * only clear bits (new = old AND data), and both take time.
 */
export class FlashChip {
  readonly bytes: Uint8Array;
  /** Sum of modelled erase and program time since construction, in ms. */
  busyMs = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }

  get size(): number {
    return this.bytes.length;
  }

  /** JEDEC id as RDID (0x9F) returns it in SPI W0: manufacturer, memory type, capacity (log2 bytes). */
  get jedecId(): number {
    return 0xef | (0x40 << 8) | (Math.log2(this.size) << 16);
  }

  /**
   * Erases every sector that [offset, offset+length) touches, the way the ROM's erase-area routine
   * does: sectors up to a 64 KiB boundary, whole blocks, then sectors. Returns the time it takes.
   */
  eraseRange(offset: number, length: number): number {
    if (length <= 0) return 0;
    let at = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + length) / SECTOR) * SECTOR);
    let ms = 0;
    while (at < end) {
      const step = at % BLOCK === 0 && at + BLOCK <= end ? BLOCK : SECTOR;
      this.bytes.fill(0xff, at, at + step);
      ms += step === BLOCK ? FLASH_TIMING.blockEraseMs : FLASH_TIMING.sectorEraseMs;
      at += step;
    }
    this.busyMs += ms;
    return ms;
  }

  /** Programs bytes at `offset`; returns the time the pages take. */
  program(offset: number, data: Uint8Array): number {
    for (let i = 0; i < data.length; i++) this.bytes[offset + i]! &= data[i]!;
    const pages = data.length === 0 ? 0 : Math.floor((offset + data.length - 1) / PAGE) - Math.floor(offset / PAGE) + 1;
    const ms = pages * FLASH_TIMING.pageProgramMs;
    this.busyMs += ms;
    return ms;
  }

  md5(offset: number, length: number): string {
    return createHash('md5').update(this.bytes.subarray(offset, offset + length)).digest('hex');
  }
}
