import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants as zc, createInflate, type Inflate } from 'node:zlib';
import {
  CHIP_DETECT_MAGIC_REG,
  Cmd,
  ESP32S3_CHIP_ID,
  ESP32S3_MAGIC,
  ROM_INVALID_RECV_MSG,
  S3,
  checksum,
  decodeCommand,
  encodeResponse,
} from '../../host/flash/rom-protocol.ts';
import { SlipDecoder, slipEncode } from '../../host/flash/slip.ts';
import { startEmulatedApp, type EmulatedAppOptions } from './emulated-app.ts';
import { FlashChip } from './flash-chip.ts';

export interface RomEmulatorOptions {
  /** Value of the chip-detect register: ESP32-S3 unless a test wants another chip. */
  chipMagic?: number;
  /** Chip id in GET_SECURITY_INFO (9 for ESP32-S3). */
  chipId?: number;
  flashSize?: number;
  /** How DTR/RTS reach the chip: a USB-UART bridge's two-transistor circuit, or the S3's own USB-Serial-JTAG. */
  wiring?: 'classic' | 'usb-jtag';
  /** Bytes take 10 bits each at the current baud rate in both directions (a UART's pace). */
  throttle?: boolean;
  /** Erase and program take the flash chip's typical time before the ROM answers. */
  flashTiming?: boolean;
  initialBaud?: number;
  /**
   * Flash offset inside a written block where a transit error flips the same bit in two adjacent
   * bytes: the XOR checksum of FLASH_DATA still matches, so only the MD5 check can catch it.
   */
  corruptTransitAt?: number;
  /** Indices (0-based, counting every FLASH_DATA/FLASH_DEFL_DATA received) that arrive damaged once. */
  noisyDataPackets?: number[];
  /**
   * A board whose app crashes in a loop: after a USB-Serial-JTAG reset into the loader its RTC watchdog
   * and super watchdog are still armed, and reset the chip after this many commands unless the host
   * disables the one and sets the other to feed itself.
   */
  watchdogAfterCommands?: number;
  /** What the board runs after a normal boot: the host simulator on stdio (see emulated-app.ts). */
  app?: EmulatedAppOptions;
}

/** A ROM answers SYNC with a non-zero value (the stub answers 0; esptool tells them apart by it). */
const ROM_SYNC_VALUE = 0x20120707;
const DEFAULT_REGS: [number, number][] = [
  [0x60007044, 0x12345678], // MAC eFuse word 0
  [0x60007048, 0x00007cdf], // MAC eFuse word 1
];

interface WriteSession {
  offset: number;
  blocks: number;
  blockSize: number;
  size: number;
  inflate?: { stream: Inflate; written: number; failed: boolean };
}

/**
 * A test double of the ESP32-S3 ROM serial bootloader, faithful enough that Espressif's esptool-js
 * flashes it: it answers the ROM's commands with the ROM's status bytes, keeps a NOR flash with erase
 * granularity and timing, and models both reset wirings. Production code never imports it.
 */
export class RomEmulator {
  readonly chip: FlashChip;
  /** Regions opened by FLASH_BEGIN / FLASH_DEFL_BEGIN, in order, with the modelled clock at the time. */
  readonly writes: { offset: number; eraseSize: number; compressed: boolean; atModelledMs: number }[] = [];
  /**
   * Time the exchange takes on a real link and chip, whatever the wall clock: bytes at the baud rate
   * (10 bits each, both ways) plus erase and program time. The protocol waits for each answer, so the
   * parts add up.
   */
  modelledMs = 0;
  /** Every (DTR, RTS) state the host set, in order. */
  readonly lineStates: [boolean, boolean][] = [];
  /** Every command id received in the loader, in order. */
  readonly commands: number[] = [];
  mode: 'off' | 'bootloader' | 'app' = 'app';
  bootCount = 0;
  /** Resets caused by the emulated watchdog. */
  watchdogResets = 0;
  baud: number;
  /** Which model the emulated app loaded at its last boot. */
  appModelSource: 'partition' | 'built-in' | undefined;
  private readonly decoder = new SlipDecoder();
  private readonly regs = new Map<number, number>(DEFAULT_REGS);
  private session: WriteSession | undefined;
  private spiAttached = false;
  private flashLimit: number;
  private dtr = false;
  private rts = false;
  private usbDownloadLatch = false;
  private dataPackets = 0;
  private transitCorrupted = false;
  private toHost: (bytes: Uint8Array) => void = () => {};
  private appProcess: ChildProcessWithoutNullStreams | undefined;
  private queue: Promise<void> = Promise.resolve();
  private hostClock = 0;
  private deviceClock = 0;

  constructor(readonly options: RomEmulatorOptions = {}) {
    this.chip = new FlashChip(options.flashSize ?? 8 * 1024 * 1024);
    this.flashLimit = this.chip.size;
    this.baud = options.initialBaud ?? 115200;
  }

  get flash(): Uint8Array {
    return this.chip.bytes;
  }

  get wiring(): 'classic' | 'usb-jtag' {
    return this.options.wiring ?? 'classic';
  }

  attachHost(sink: (bytes: Uint8Array) => void): void {
    this.toHost = sink;
  }

  /** Host → device bytes: resolves after their time on the wire, then the device sees them. */
  async fromHost(bytes: Uint8Array): Promise<void> {
    this.modelledMs += this.uartMs(bytes.length);
    const wire = this.wireMs(bytes.length);
    if (wire > 0) {
      this.hostClock = Math.max(performance.now(), this.hostClock) + wire;
      await new Promise((r) => setTimeout(r, this.hostClock - performance.now()));
    }
    this.receive(bytes.slice());
  }

  private uartMs(bytes: number): number {
    return this.wiring === 'classic' ? (bytes * 10 * 1000) / this.baud : 0;
  }

  private wireMs(bytes: number): number {
    return this.options.throttle ? this.uartMs(bytes) : 0;
  }

  /** Device → host bytes, after `busyMs` of work on the device and their time on the wire. */
  private emit(bytes: Uint8Array, busyMs = 0): void {
    this.modelledMs += busyMs + this.uartMs(bytes.length);
    const delay = (this.options.flashTiming ? busyMs : 0) + this.wireMs(bytes.length);
    if (delay === 0 && this.deviceClock <= performance.now()) return this.toHost(bytes);
    this.deviceClock = Math.max(performance.now(), this.deviceClock) + delay;
    setTimeout(() => this.toHost(bytes), this.deviceClock - performance.now());
  }

  /** DTR/RTS as the host set them; what the chip's EN and IO0 see depends on the wiring. */
  setSignals(dtr: boolean, rts: boolean): void {
    const wasInReset = this.inReset();
    this.lineStates.push([dtr, rts]);
    this.dtr = dtr;
    this.rts = rts;
    if (this.wiring === 'classic') {
      // Two cross-coupled transistors: EN is low only for RTS alone, IO0 low only for DTR alone.
      if (this.inReset()) this.powerOff();
      else if (wasInReset) this.boot(dtr && !rts);
      return;
    }
    // USB-Serial-JTAG: (DTR, RTS) = (1, 0) latches "download", (0, 0) clears it, (0, 1) holds the
    // chip in reset; (1, 1) changes nothing, which is why esptool passes through it.
    if (this.inReset()) this.powerOff();
    else if (wasInReset) this.boot(this.usbDownloadLatch);
    if (dtr && !rts) this.usbDownloadLatch = true;
    if (!dtr && !rts) this.usbDownloadLatch = false;
  }

  private inReset(): boolean {
    return this.rts && !this.dtr;
  }

  private powerOff(): void {
    this.mode = 'off';
    this.stopApp();
  }

  private boot(download: boolean): void {
    this.bootCount++;
    this.session = undefined;
    this.spiAttached = false;
    this.flashLimit = this.chip.size;
    this.regs.clear();
    for (const [a, v] of DEFAULT_REGS) this.regs.set(a, v);
    const usb = this.wiring === 'usb-jtag';
    this.regs.set(S3.UARTDEV_BUF_NO, usb ? S3.UARTDEV_BUF_NO_USB_JTAG_SERIAL : 1);
    if (usb && this.options.watchdogAfterCommands !== undefined) this.regs.set(S3.RTC_CNTL_WDTCONFIG0_REG, 0x8000_0000);
    this.commands.length = 0;
    this.mode = download ? 'bootloader' : 'app';
    const banner = download
      ? `ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(${usb ? 'USB/UART0' : 'UART0/UART1'}))\r\nwaiting for download\r\n`
      : 'ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n';
    this.emit(new TextEncoder().encode(banner));
    if (!download) this.startApp();
  }

  /** Starts the app the board boots into, when the test gave one. */
  private startApp(): void {
    const app = this.options.app;
    if (!app) return;
    this.stopApp();
    const started = startEmulatedApp(app, this.flash, (bytes) => this.emit(bytes));
    this.appProcess = started.process;
    this.appModelSource = started.modelSource;
  }

  stopApp(): void {
    this.appProcess?.kill('SIGKILL');
    this.appProcess = undefined;
  }

  private receive(bytes: Uint8Array): void {
    if (this.mode === 'app') {
      this.appProcess?.stdin.write(bytes);
      return;
    }
    if (this.mode !== 'bootloader') return;
    for (const packet of this.decoder.push(bytes)) {
      // One command at a time, as the ROM's loop does; inflating may finish asynchronously.
      this.queue = this.queue.then(() => (this.mode === 'bootloader' ? this.handle(packet) : undefined));
    }
  }

  private reply(cmd: number, value = 0, data: Uint8Array = new Uint8Array(0), busyMs = 0): void {
    this.emit(slipEncode(encodeResponse(cmd, value, data)), busyMs);
  }

  private fail(cmd: number, error: number): void {
    this.emit(slipEncode(encodeResponse(cmd, 0, new Uint8Array(0), 1, error)));
  }

  private watchdogFires(): boolean {
    const limit = this.options.watchdogAfterCommands;
    if (limit === undefined || this.commands.length <= limit) return false;
    const rtcWdtOn = (this.regs.get(S3.RTC_CNTL_WDTCONFIG0_REG) ?? 0) !== 0;
    const swdFed = ((this.regs.get(S3.RTC_CNTL_SWD_CONF_REG) ?? 0) & S3.RTC_CNTL_SWD_AUTO_FEED_EN) !== 0;
    return rtcWdtOn || !swdFed;
  }

  private writeReg(addr: number, value: number, mask: number): void {
    // The RTC watchdog registers ignore writes unless their write-protect register holds the key.
    if (addr === S3.RTC_CNTL_WDTCONFIG0_REG && this.regs.get(S3.RTC_CNTL_WDTWPROTECT_REG) !== S3.RTC_CNTL_WDT_WKEY) return;
    if (addr === S3.RTC_CNTL_SWD_CONF_REG && this.regs.get(S3.RTC_CNTL_SWD_WPROTECT_REG) !== S3.RTC_CNTL_SWD_WKEY) return;
    const old = this.regs.get(addr) ?? 0;
    this.regs.set(addr, ((old & ~mask) | (value & mask)) >>> 0);
    if (addr === S3.SPI_REG_BASE && value & S3.SPI_CMD_USR) {
      // A user command on the flash's SPI bus: RDID is the one esptool sends.
      const command = (this.regs.get(S3.SPI_REG_BASE + S3.SPI_USR2_OFFS) ?? 0) & 0xff;
      if (command === 0x9f) this.regs.set(S3.SPI_REG_BASE + S3.SPI_W0_OFFS, this.chip.jedecId);
      this.regs.set(S3.SPI_REG_BASE, 0);
    }
  }

  private async handle(packet: Uint8Array): Promise<void> {
    const c = decodeCommand(packet);
    if (!c) return;
    this.commands.push(c.cmd);
    if (this.watchdogFires()) {
      this.watchdogResets++;
      return this.boot(false);
    }
    const v = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
    const word = (i: number) => v.getUint32(i * 4, true);
    const n = c.data.length;
    switch (c.cmd) {
      case Cmd.SYNC:
        if (n !== 36) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        for (let i = 0; i < 8; i++) this.reply(Cmd.SYNC, ROM_SYNC_VALUE);
        return;
      case Cmd.READ_REG: {
        if (n !== 4) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        const addr = word(0);
        const value = addr === CHIP_DETECT_MAGIC_REG ? (this.options.chipMagic ?? ESP32S3_MAGIC) : (this.regs.get(addr) ?? 0);
        return this.reply(c.cmd, value);
      }
      case Cmd.WRITE_REG: {
        // Groups of address, value, mask, delay (µs); esptool may append a second group.
        if (n === 0 || n % 16 !== 0) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        for (let i = 0; i < n / 16; i++) this.writeReg(word(i * 4), word(i * 4 + 1), word(i * 4 + 2));
        return this.reply(c.cmd);
      }
      case Cmd.GET_SECURITY_INFO: {
        // flags, flash_crypt_cnt, 7 key purposes, chip id, API version.
        const info = new Uint8Array(20);
        new DataView(info.buffer).setUint32(12, this.options.chipId ?? ESP32S3_CHIP_ID, true);
        return this.reply(c.cmd, 0, info);
      }
      case Cmd.SPI_ATTACH:
        if (n !== 4 && n !== 8) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        this.spiAttached = true;
        return this.reply(c.cmd);
      case Cmd.SPI_SET_PARAMS: {
        if (n !== 24) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        const total = word(1);
        if (total === 0 || total > this.chip.size) return this.fail(c.cmd, 0x06);
        this.flashLimit = total;
        return this.reply(c.cmd);
      }
      case Cmd.CHANGE_BAUDRATE:
        if (n !== 8) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        // The answer still goes out at the old rate.
        this.reply(c.cmd);
        this.baud = word(0);
        return;
      case Cmd.FLASH_BEGIN:
      case Cmd.FLASH_DEFL_BEGIN:
        return this.begin(c.cmd, n, word);
      case Cmd.FLASH_DATA:
      case Cmd.FLASH_DEFL_DATA:
        return this.data(c.cmd, c.data.slice(16), c.checksum, n >= 16 ? [word(0), word(1)] : undefined);
      case Cmd.FLASH_END:
      case Cmd.FLASH_DEFL_END: {
        // One word: 0 reboots, 1 runs the user code; either way the loader is left.
        this.reply(c.cmd);
        this.session?.inflate?.stream.destroy();
        this.session = undefined;
        this.boot(false);
        return;
      }
      case Cmd.SPI_FLASH_MD5: {
        if (n !== 16) return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
        const [offset, size] = [word(0), word(1)];
        if (offset + size > this.chip.size) return this.fail(c.cmd, 0x0a);
        // The ROM reads flash in 32-bit words: an unaligned length is hashed up to the next word.
        const md5 = this.chip.md5(offset, Math.ceil(size / 4) * 4);
        return this.reply(c.cmd, 0, new TextEncoder().encode(md5));
      }
      default:
        return this.fail(c.cmd, ROM_INVALID_RECV_MSG);
    }
  }

  private begin(cmd: number, n: number, word: (i: number) => number): void {
    if (!this.spiAttached) return this.fail(cmd, 0x06);
    // The S3 ROM takes a fifth word (encrypted write); esptool always sends it to the ROM.
    if (n !== 20) return this.fail(cmd, ROM_INVALID_RECV_MSG);
    const [size, blocks, blockSize, offset] = [word(0), word(1), word(2), word(3)];
    const compressed = cmd === Cmd.FLASH_DEFL_BEGIN;
    const span = compressed ? size : Math.max(size, blocks * blockSize);
    if (offset + span > this.flashLimit) return this.fail(cmd, 0x06);
    this.session?.inflate?.stream.destroy();
    const busy = this.chip.eraseRange(offset, size);
    this.session = { offset, blocks, blockSize, size };
    if (compressed) this.session.inflate = { stream: createInflate(), written: 0, failed: false };
    this.writes.push({ offset, eraseSize: size, compressed, atModelledMs: this.modelledMs });
    this.reply(cmd, 0, undefined, busy);
  }

  private async data(cmd: number, payload: Uint8Array, chk: number, header: [number, number] | undefined): Promise<void> {
    const s = this.session;
    const compressed = cmd === Cmd.FLASH_DEFL_DATA;
    if (!s || !header || compressed !== Boolean(s.inflate)) return this.fail(cmd, ROM_INVALID_RECV_MSG);
    const [len, seq] = header;
    if (payload.length !== len || seq >= s.blocks) return this.fail(cmd, ROM_INVALID_RECV_MSG);
    if (this.options.noisyDataPackets?.includes(this.dataPackets++)) payload[0]! ^= 0x01;
    const hit = this.options.corruptTransitAt;
    const at = s.offset + seq * s.blockSize;
    if (!compressed && hit !== undefined && !this.transitCorrupted && hit >= at && hit + 1 < at + len) {
      payload[hit - at]! ^= 0x10;
      payload[hit - at + 1]! ^= 0x10;
      this.transitCorrupted = true;
    }
    if (checksum(payload) !== (chk & 0xff)) return this.fail(cmd, 0x07);
    if (!compressed) return this.reply(cmd, 0, undefined, this.chip.program(at, payload));
    const out = await this.inflateChunk(s, payload);
    if (!out || s.offset + s.inflate!.written + out.length > s.offset + s.size) return this.fail(cmd, 0x0b);
    const busy = this.chip.program(s.offset + s.inflate!.written, out);
    s.inflate!.written += out.length;
    this.reply(cmd, 0, undefined, busy);
  }

  /** Feeds one compressed block to zlib and returns what it decompresses to so far. */
  private inflateChunk(s: WriteSession, chunk: Uint8Array): Promise<Uint8Array | undefined> {
    const inf = s.inflate!;
    if (inf.failed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const parts: Buffer[] = [];
      const onData = (b: Buffer) => parts.push(b);
      const onError = () => {
        inf.failed = true;
        done(undefined);
      };
      const done = (result: Uint8Array | undefined) => {
        inf.stream.off('data', onData);
        inf.stream.off('error', onError);
        resolve(result);
      };
      inf.stream.on('data', onData);
      inf.stream.once('error', onError);
      inf.stream.write(chunk);
      inf.stream.flush(zc.Z_SYNC_FLUSH, () => setImmediate(() => !inf.failed && done(new Uint8Array(Buffer.concat(parts)))));
    });
  }
}

