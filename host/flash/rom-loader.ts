import { UserError } from '../util/errors.ts';
import { sleep, type ByteLink } from './link.ts';
import {
  CHIP_DETECT_MAGIC_REG,
  CHIP_MAGIC,
  CMD_NAMES,
  Cmd,
  ESP32S3_MAGIC,
  FLASH_SECTOR,
  ROM_ERRORS,
  ROM_FLASH_BLOCK,
  SYNC_PAYLOAD,
  checksum,
  decodeResponse,
  encodeCommand,
  words,
  type ResponsePacket,
} from './rom-protocol.ts';
import { SlipDecoder, slipEncode } from './slip.ts';

export class FlashError extends UserError {}

export type ResetStrategy = 'classic' | 'usb-jtag' | 'none';

export interface WriteProgress {
  (written: number, total: number): void;
}

/**
 * Talks to the ESP32-S3 ROM serial bootloader: sync, chip check, SPI attach, baud change, flash
 * writes in 1 KiB blocks, MD5 verification and reset. No stub loader is uploaded: the ROM alone is
 * enough for our images and keeps the tool free of third-party binaries.
 */
export class RomLoader {
  private readonly decoder = new SlipDecoder();
  private readonly responses: ResponsePacket[] = [];
  private waiter: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    readonly link: ByteLink,
    private readonly defaultTimeoutMs = 3000,
  ) {
    this.unsubscribe = link.onData((chunk) => {
      for (const packet of this.decoder.push(chunk)) {
        const r = decodeResponse(packet);
        if (r) this.responses.push(r);
      }
      this.waiter?.();
    });
  }

  dispose(): void {
    this.unsubscribe();
  }

  private async nextResponse(cmd: number, timeoutMs: number): Promise<ResponsePacket | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.responses.findIndex((r) => r.cmd === cmd);
      if (i >= 0) {
        const [r] = this.responses.splice(0, i + 1).slice(-1);
        return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  async command(cmd: number, data: Uint8Array, chk = 0, timeoutMs = this.defaultTimeoutMs): Promise<ResponsePacket> {
    this.responses.length = 0;
    await this.link.write(slipEncode(encodeCommand(cmd, data, chk)));
    const r = await this.nextResponse(cmd, timeoutMs);
    const name = CMD_NAMES[cmd] ?? `0x${cmd.toString(16)}`;
    if (!r) throw new FlashError(`${this.link.path}: no answer to ${name} within ${timeoutMs} ms; is the board in download mode?`);
    if (r.status !== 0) {
      const why = ROM_ERRORS[r.error] ?? `error 0x${r.error.toString(16)}`;
      throw new FlashError(`${this.link.path}: the bootloader refused ${name}: ${why}`);
    }
    return r;
  }

  private async resetIntoBootloader(strategy: ResetStrategy): Promise<void> {
    // DTR drives IO0 and RTS drives EN through the usual auto-reset transistors (inverted).
    if (strategy === 'classic') {
      await this.link.setSignals({ dtr: false, rts: true });
      await sleep(100);
      await this.link.setSignals({ dtr: true, rts: false });
      await sleep(50);
      await this.link.setSignals({ dtr: false, rts: false });
    } else if (strategy === 'usb-jtag') {
      // The USB-Serial-JTAG peripheral decodes the same lines itself, in a different order.
      await this.link.setSignals({ dtr: false, rts: false });
      await sleep(100);
      await this.link.setSignals({ dtr: true, rts: false });
      await sleep(100);
      await this.link.setSignals({ dtr: false, rts: true });
      await this.link.setSignals({ dtr: false, rts: true });
      await sleep(100);
      await this.link.setSignals({ dtr: false, rts: false });
    }
  }

  /** Resets into the ROM loader and waits for an answer to SYNC. */
  async connect(strategy: ResetStrategy = 'classic', attempts = 5): Promise<void> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      await this.resetIntoBootloader(strategy);
      for (let i = 0; i < 3; i++) {
        try {
          await this.command(Cmd.SYNC, SYNC_PAYLOAD, 0, 200);
          // The ROM answers one SYNC several times; let the extra answers arrive and drop them.
          await sleep(50);
          this.responses.length = 0;
          return;
        } catch (e) {
          if (!(e instanceof FlashError)) throw e;
        }
      }
    }
    throw new FlashError(
      `${this.link.path}: no ESP bootloader answered after ${attempts} resets; hold BOOT, tap RESET, and try again, or check --port`,
    );
  }

  async readReg(address: number): Promise<number> {
    return (await this.command(Cmd.READ_REG, words(address))).value;
  }

  /** Returns the chip name, and refuses anything but an ESP32-S3. */
  async checkChip(): Promise<string> {
    const magic = await this.readReg(CHIP_DETECT_MAGIC_REG);
    const name = CHIP_MAGIC[magic] ?? `unknown chip (magic 0x${magic.toString(16).padStart(8, '0')})`;
    if (magic !== ESP32S3_MAGIC) {
      throw new FlashError(`${this.link.path}: the board is an ${name}, not an ESP32-S3; this firmware only runs on ESP32-S3`);
    }
    return name;
  }

  async attachFlash(flashSizeBytes: number): Promise<void> {
    // The S3 ROM takes a second, zero word in SPI_ATTACH.
    await this.command(Cmd.SPI_ATTACH, words(0, 0));
    await this.command(Cmd.SPI_SET_PARAMS, words(0, flashSizeBytes, 0x10000, FLASH_SECTOR, 0x100, 0xffff));
  }

  async changeBaudRate(baud: number): Promise<void> {
    await this.command(Cmd.CHANGE_BAUDRATE, words(baud, 0));
    await this.link.setBaudRate(baud);
    await sleep(50);
    this.responses.length = 0;
  }

  async writeFlash(offset: number, image: Uint8Array, onProgress?: WriteProgress): Promise<void> {
    if (offset % FLASH_SECTOR !== 0) throw new FlashError(`flash offset 0x${offset.toString(16)} is not a multiple of 4 KiB`);
    const blocks = Math.ceil(image.length / ROM_FLASH_BLOCK);
    const eraseSize = Math.ceil(image.length / FLASH_SECTOR) * FLASH_SECTOR;
    // Erasing takes time on the device: allow ~30 s per MiB as esptool does.
    const eraseTimeout = Math.max(this.defaultTimeoutMs, Math.ceil((eraseSize / 0x100000) * 30_000));
    await this.command(Cmd.FLASH_BEGIN, words(eraseSize, blocks, ROM_FLASH_BLOCK, offset, 0), 0, eraseTimeout);
    for (let seq = 0; seq < blocks; seq++) {
      const block = new Uint8Array(ROM_FLASH_BLOCK).fill(0xff);
      block.set(image.subarray(seq * ROM_FLASH_BLOCK, (seq + 1) * ROM_FLASH_BLOCK));
      const payload = new Uint8Array(16 + ROM_FLASH_BLOCK);
      payload.set(words(ROM_FLASH_BLOCK, seq, 0, 0), 0);
      payload.set(block, 16);
      await this.command(Cmd.FLASH_DATA, payload, checksum(block));
      onProgress?.(Math.min(image.length, (seq + 1) * ROM_FLASH_BLOCK), image.length);
    }
  }

  /** MD5 of a flash region as the device computes it, hex. */
  async flashMd5(offset: number, size: number): Promise<string> {
    const timeout = Math.max(this.defaultTimeoutMs, Math.ceil((size / 0x100000) * 8000));
    const r = await this.command(Cmd.SPI_FLASH_MD5, words(offset, size, 0, 0), 0, timeout);
    // The ROM answers 32 hex characters, a stub 16 raw bytes.
    if (r.data.length >= 32) return new TextDecoder().decode(r.data.subarray(0, 32)).toLowerCase();
    return Buffer.from(r.data.subarray(0, 16)).toString('hex');
  }

  async hardReset(): Promise<void> {
    await this.link.setSignals({ dtr: false, rts: true });
    await sleep(100);
    await this.link.setSignals({ dtr: false, rts: false });
  }
}
