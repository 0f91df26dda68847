import { describe, expect, it } from 'vitest';
import { bytes, espImage } from '../../testing/flash/build-fixture.ts';
import { esptoolJsOn, md5, romMd5 } from '../support/esptool-js.ts';

// Espressif's own client against our emulator: if esptool-js cannot talk to it, the emulator is wrong.
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** An image that deflate shrinks a lot (like code and zero-filled data) but that is not trivial. */
function compressible(n: number): Uint8Array {
  const out = espImage(n, 5);
  const noise = bytes(n, 6);
  for (let i = 24; i < n; i++) out[i] = noise[i]! < 200 ? (i >> 5) & 0xff : noise[i]!;
  return out;
}

describe('esptool-js against the ROM emulator', () => {
  for (const wiring of ['classic', 'usb-jtag'] as const) {
    it(`syncs after its ${wiring} reset, sees a ROM (not a stub) and detects an ESP32-S3`, async () => {
      const { emulator, loader, transport } = await esptoolJsOn({ wiring });
      try {
        await loader.detectChip('default_reset');
        expect(emulator.mode).toBe('bootloader');
        // A SYNC answered with value 0 would make esptool-js take the board for a running stub.
        expect((loader as unknown as { syncStubDetected: boolean }).syncStubDetected).toBe(false);
        expect(loader.chip.CHIP_NAME).toBe('ESP32-S3');
        expect(await loader.chip.getChipDescription(loader)).toMatch(/^ESP32-S3/);
        expect(await loader.chip.readMac(loader)).toBe('7c:df:12:34:56:78');
      } finally {
        await transport.disconnect();
      }
    });
  }

  it('names another chip by its GET_SECURITY_INFO chip id', async () => {
    const { loader, transport } = await esptoolJsOn({ chipId: 5, chipMagic: 0x1b31506f });
    try {
      await loader.detectChip('default_reset');
      expect(loader.chip.CHIP_NAME).toBe('ESP32-C3');
    } finally {
      await transport.disconnect();
    }
  });

  it('reads the flash id through the SPI registers and derives the flash size from it', async () => {
    const { loader, transport, log } = await esptoolJsOn({ flashSize: 4 * 1024 * 1024 });
    try {
      await loader.detectChip('default_reset');
      await loader.flashSpiAttach(0);
      const id = await loader.readFlashId();
      expect(id & 0xff).toBe(0xef);
      expect(await loader.detectFlashSize()).toBe('4MB');
      await loader.flashId();
      expect(log.join('\n')).toMatch(/Detected flash size: 4MB/);
    } finally {
      await transport.disconnect();
    }
  });

  for (const compress of [false, true]) {
    it(`writes ${compress ? 'compressed (FLASH_DEFL_*)' : 'uncompressed (FLASH_DATA)'} at a changed baud rate and the ROM's MD5 matches`, async () => {
      const { emulator, loader, transport } = await esptoolJsOn({}, 460800);
      // Old content, so a missing erase or a write outside the image shows.
      emulator.flash.set(bytes(0x40000, 9), 0x10000);
      const image = compressible(70_001);
      try {
        await loader.detectChip('default_reset');
        await loader.flashSpiAttach(0);
        await loader.changeBaud();
        expect(emulator.baud).toBe(460800);
        // The ROM takes 1 KiB blocks; esptool.py uses the chip's size in ROM mode, esptool-js its stub's.
        loader.FLASH_WRITE_SIZE = loader.chip.FLASH_WRITE_SIZE;
        await loader.writeFlash({ fileArray: [{ data: image, address: 0x10000 }], flashSize: 'keep', flashMode: 'keep', flashFreq: 'keep', eraseAll: false, compress });
        const padded = new Uint8Array(70_004).fill(0xff);
        padded.set(image);
        expect(romMd5(await loader.flashMd5sum(0x10000, padded.length))).toBe(md5(padded));
        expect(emulator.writes.map(({ offset, eraseSize, compressed }) => ({ offset, eraseSize, compressed }))).toEqual([
          { offset: 0x10000, eraseSize: compress ? Math.ceil(70_004 / 1024) * 1024 : 70_004, compressed: compress },
        ]);
        expect(same(emulator.flash.subarray(0x10000, 0x10000 + padded.length), padded)).toBe(true);
        // The erase covers whole sectors: the rest of the last sector is blank, the next sector untouched.
        const sectorEnd = 0x10000 + Math.ceil(padded.length / 4096) * 4096;
        expect(emulator.flash.subarray(0x10000 + padded.length, sectorEnd).every((b) => b === 0xff)).toBe(true);
        expect(same(emulator.flash.subarray(sectorEnd, 0x50000), bytes(0x40000, 9).subarray(sectorEnd - 0x10000))).toBe(true);
        if (compress) {
          // esptool-js 0.7's hard reset only releases RTS; pulse it as esptool.py does.
          await transport.setRTS(true);
          await transport.setRTS(false);
        } else {
          // In ROM mode a soft reset is FLASH_BEGIN(0, 0) + FLASH_END(run user code): the loader is left.
          await loader.after('soft_reset');
        }
        expect(emulator.mode).toBe('app');
        expect(emulator.writes.length).toBe(compress ? 1 : 2);
      } finally {
        await transport.disconnect();
      }
    });
  }
});
