import { deflateSync } from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { LinkClosedError, type ByteLink } from '../link/port.ts';
import { sleep } from '../util/sleep.ts';
import {
  CHIP_DETECT_MAGIC_REG,
  CHIP_MAGIC,
  CMD_NAMES,
  Cmd,
  ESP32S3_MAGIC,
  FLASH_SECTOR,
  ROM_ERRORS,
  ROM_FLASH_BLOCK,
  S3,
  SYNC_PAYLOAD,
  checksum,
  decodeResponse,
  encodeCommand,
  words,
  type ResponsePacket,
} from './rom-protocol.ts';
import { SlipDecoder, slipEncode } from './slip.ts';

export class FlashError extends UserError {}

/** The port went away (board unplugged, cable pulled): retrying on it is pointless; the user reconnects. */
export class PortLostError extends FlashError {}

/** A LinkClosedError from the port as the flasher's user-facing error; anything else as it is. */
function portLost(e: unknown): unknown {
  return e instanceof LinkClosedError ? new PortLostError(e.message) : e;
}

export const RESET_STRATEGIES = ['classic', 'usb-jtag', 'none'] as const;
export type ResetStrategy = (typeof RESET_STRATEGIES)[number];

/** esptool's figures: a failed block is sent up to 3 times; erase and write take up to 30 and 40 s/MiB. */
const WRITE_BLOCK_ATTEMPTS = 3;
const ERASE_MS_PER_MIB = 30_000;
const WRITE_MS_PER_MIB = 40_000;

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
    await this.link.write(slipEncode(encodeCommand(cmd, data, chk))).catch((e: unknown) => {
      throw portLost(e);
    });
    const r = await this.nextResponse(cmd, timeoutMs);
    const name = CMD_NAMES[cmd] ?? `0x${cmd.toString(16)}`;
    if (!r) throw new FlashError(`${this.link.path}: no answer to ${name} within ${timeoutMs} ms; is the board in download mode?`);
    if (r.status !== 0) {
      const why = ROM_ERRORS[r.error] ?? `error 0x${r.error.toString(16)}`;
      throw new FlashError(`${this.link.path}: the bootloader refused ${name}: ${why}`);
    }
    return r;
  }

  private async lines(dtr: boolean, rts: boolean): Promise<void> {
    try {
      await this.link.setSignals({ dtr, rts });
    } catch (e) {
      if (e instanceof LinkClosedError) throw portLost(e);
      throw new FlashError(
        `${this.link.path}: cannot set DTR/RTS (${(e as Error).message}); a pty, socat or ser2net port has no modem lines: put the board in download mode by hand (hold BOOT, tap RESET) and pass --reset none`,
      );
    }
  }

  private async resetIntoBootloader(strategy: ResetStrategy): Promise<void> {
    // (DTR, RTS) steps as esptool's: DTR drives IO0 and RTS drives EN through the usual
    // two-transistor circuit, where both asserted leaves the chip alone.
    if (strategy === 'classic') {
      await this.lines(false, true);
      await sleep(100);
      await this.lines(true, false);
      await sleep(50);
      await this.lines(false, false);
    } else if (strategy === 'usb-jtag') {
      // The USB-Serial-JTAG peripheral latches download mode at (1,0) and forgets it at (0,0), so the
      // way into reset at (0,1) goes through (1,1), one line at a time, as esptool does.
      await this.lines(false, false);
      await sleep(100);
      await this.lines(true, false);
      await sleep(100);
      await this.lines(true, true);
      await this.lines(false, true);
      await sleep(100);
      await this.lines(false, false);
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
          if (!(e instanceof FlashError) || e instanceof PortLostError) throw e;
        }
      }
    }
    // The other wiring is the likelier fix: the S3's own USB port ignores the classic sequence.
    const instead =
      strategy === 'classic'
        ? 'if this is the ESP32-S3\'s own USB port (USB id 303A:1001, e.g. a XIAO ESP32S3), pass --reset usb-jtag; else hold BOOT, tap RESET and pass --reset none, or check --port'
        : strategy === 'usb-jtag'
          ? 'if the board is behind a USB-UART bridge (CP210x, CH34x, FTDI), pass --reset classic; else hold BOOT, tap RESET and pass --reset none, or check --port'
          : 'put the board in download mode (hold BOOT, tap RESET) and try again, or pass --reset usb-jtag (the S3\'s own USB port) or --reset classic (a USB-UART bridge), or check --port';
    throw new FlashError(`${this.link.path}: no ESP bootloader answered after ${attempts} ${strategy === 'none' ? 'tries' : 'resets'} (--reset ${strategy}); ${instead}`);
  }

  async readReg(address: number): Promise<number> {
    return (await this.command(Cmd.READ_REG, words(address))).value;
  }

  async writeReg(address: number, value: number, mask = 0xffffffff): Promise<void> {
    await this.command(Cmd.WRITE_REG, words(address, value, mask, 0));
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

  /**
   * Over USB-Serial-JTAG a reset does not stop the RTC watchdog or the super watchdog that a crashing
   * app left armed; like esptool, disable the one and let the other feed itself before flashing.
   * Returns whether the ROM talks over USB-Serial-JTAG.
   */
  async quietWatchdogsOnUsb(): Promise<boolean> {
    const port = (await this.readReg(S3.UARTDEV_BUF_NO)) & 0xff;
    if (port !== S3.UARTDEV_BUF_NO_USB_JTAG_SERIAL) return false;
    await this.writeReg(S3.RTC_CNTL_WDTWPROTECT_REG, S3.RTC_CNTL_WDT_WKEY);
    await this.writeReg(S3.RTC_CNTL_WDTCONFIG0_REG, 0);
    await this.writeReg(S3.RTC_CNTL_WDTWPROTECT_REG, 0);
    await this.writeReg(S3.RTC_CNTL_SWD_WPROTECT_REG, S3.RTC_CNTL_SWD_WKEY);
    const swd = await this.readReg(S3.RTC_CNTL_SWD_CONF_REG);
    await this.writeReg(S3.RTC_CNTL_SWD_CONF_REG, (swd | S3.RTC_CNTL_SWD_AUTO_FEED_EN) >>> 0);
    await this.writeReg(S3.RTC_CNTL_SWD_WPROTECT_REG, 0);
    return true;
  }

  async attachFlash(flashSizeBytes: number): Promise<void> {
    // The S3 ROM takes a second, zero word in SPI_ATTACH.
    await this.command(Cmd.SPI_ATTACH, words(0, 0));
    await this.command(Cmd.SPI_SET_PARAMS, words(0, flashSizeBytes, 0x10000, FLASH_SECTOR, 0x100, 0xffff));
  }

  async changeBaudRate(baud: number): Promise<void> {
    await this.command(Cmd.CHANGE_BAUDRATE, words(baud, 0));
    await this.link.setBaudRate(baud).catch((e: unknown) => {
      throw portLost(e);
    });
    await sleep(50);
    this.responses.length = 0;
  }

  /** Sends one data block, again on a refusal or a lost answer, up to esptool's three attempts. */
  private async sendBlock(cmd: number, block: Uint8Array, seq: number, timeoutMs: number): Promise<void> {
    const payload = new Uint8Array(16 + block.length);
    payload.set(words(block.length, seq, 0, 0), 0);
    payload.set(block, 16);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.command(cmd, payload, checksum(block), timeoutMs);
        return;
      } catch (e) {
        if (!(e instanceof FlashError) || e instanceof PortLostError || attempt >= WRITE_BLOCK_ATTEMPTS) throw e;
        this.retries++;
        await sleep(150);
      }
    }
  }

  /** Blocks sent again after a refusal or a lost answer, over this loader's life. */
  retries = 0;

  private timeoutFor(bytes: number, msPerMiB: number): number {
    return Math.max(this.defaultTimeoutMs, Math.ceil((bytes / 0x100000) * msPerMiB));
  }

  /**
   * Writes `image` at `offset` in 1 KiB blocks. The ROM erases the whole region when the write begins
   * and programs each block before answering. With `compress`, the blocks carry a zlib stream the ROM
   * inflates (FLASH_DEFL_*), so fewer bytes cross the link.
   */
  async writeFlash(offset: number, image: Uint8Array, onProgress?: WriteProgress, compress = false): Promise<void> {
    if (offset % FLASH_SECTOR !== 0) throw new FlashError(`flash offset 0x${offset.toString(16)} is not a multiple of 4 KiB`);
    if (compress) return this.writeCompressed(offset, image, onProgress);
    const blocks = Math.ceil(image.length / ROM_FLASH_BLOCK);
    const eraseSize = Math.ceil(image.length / FLASH_SECTOR) * FLASH_SECTOR;
    await this.command(Cmd.FLASH_BEGIN, words(eraseSize, blocks, ROM_FLASH_BLOCK, offset, 0), 0, this.timeoutFor(eraseSize, ERASE_MS_PER_MIB));
    for (let seq = 0; seq < blocks; seq++) {
      const block = new Uint8Array(ROM_FLASH_BLOCK).fill(0xff);
      block.set(image.subarray(seq * ROM_FLASH_BLOCK, (seq + 1) * ROM_FLASH_BLOCK));
      await this.sendBlock(Cmd.FLASH_DATA, block, seq, this.timeoutFor(ROM_FLASH_BLOCK, WRITE_MS_PER_MIB));
      onProgress?.(Math.min(image.length, (seq + 1) * ROM_FLASH_BLOCK), image.length);
    }
  }

  private async writeCompressed(offset: number, image: Uint8Array, onProgress?: WriteProgress): Promise<void> {
    const packed = deflateSync(image, { level: 9 });
    const blocks = Math.ceil(packed.length / ROM_FLASH_BLOCK);
    // The ROM erases the uncompressed size rounded up to whole blocks, as esptool tells it.
    const eraseSize = Math.ceil(image.length / ROM_FLASH_BLOCK) * ROM_FLASH_BLOCK;
    await this.command(
      Cmd.FLASH_DEFL_BEGIN,
      words(eraseSize, blocks, ROM_FLASH_BLOCK, offset, 0),
      0,
      this.timeoutFor(eraseSize, ERASE_MS_PER_MIB),
    );
    // A block may inflate to many times its size, and the ROM writes all of it before answering.
    const blockTimeout = this.timeoutFor(ROM_FLASH_BLOCK * Math.max(1, image.length / packed.length) * 2, WRITE_MS_PER_MIB);
    for (let seq = 0; seq < blocks; seq++) {
      const block = packed.subarray(seq * ROM_FLASH_BLOCK, (seq + 1) * ROM_FLASH_BLOCK);
      await this.sendBlock(Cmd.FLASH_DEFL_DATA, block, seq, blockTimeout);
      onProgress?.(Math.min(image.length, Math.round(((seq + 1) / blocks) * image.length)), image.length);
    }
  }

  /** Leaves the loader and starts the app without a reset line: FLASH_END asking to run user code. */
  async runUserCode(): Promise<void> {
    await this.command(Cmd.FLASH_BEGIN, words(0, 0, ROM_FLASH_BLOCK, 0, 0));
    await this.command(Cmd.FLASH_END, words(1));
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
    await this.lines(false, true);
    await sleep(100);
    await this.lines(false, false);
  }
}
