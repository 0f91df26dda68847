import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BindingInterface, BindingPortInterface, OpenOptions, PortStatus } from '@serialport/bindings-interface';
import {
  CHIP_DETECT_MAGIC_REG,
  Cmd,
  ESP32S3_MAGIC,
  checksum,
  decodeCommand,
  encodeResponse,
} from './rom-protocol.ts';
import { SlipDecoder, slipEncode } from './slip.ts';

export interface RomEmulatorOptions {
  /** Value of the chip-detect register: ESP32-S3 unless a test wants another chip. */
  chipMagic?: number;
  flashSize?: number;
  /** When set, bytes take 10 bits each at the current baud rate in both directions (a UART's pace). */
  throttle?: boolean;
  initialBaud?: number;
  /**
   * Flash offset inside a written block where a transit error flips the same bit in two adjacent
   * bytes: the XOR checksum of FLASH_DATA still matches, so only the MD5 check can catch it.
   */
  corruptTransitAt?: number;
  /**
   * What the board runs after a normal boot: the host simulator on stdio, serving the application
   * protocol with the model found in the model partition (when its header is valid) or else the
   * built-in model, as the firmware does.
   */
  app?: { simBinary: string; builtinModel: string; modelPartitionOffset: number };
}

interface FlashSession {
  offset: number;
  blocks: number;
  blockSize: number;
  nextSeq: number;
}

/**
 * A test double of the ESP32-S3 ROM serial bootloader behind a node-serialport binding. It answers
 * the commands the flasher uses, keeps the written flash in memory and models the auto-reset lines
 * (RTS → EN, DTR → IO0) so that a reset without IO0 low boots the "application".
 */
export class RomEmulator {
  readonly flash: Uint8Array;
  /** Regions opened by FLASH_BEGIN, in order. */
  readonly writes: { offset: number; eraseSize: number }[] = [];
  mode: 'off' | 'bootloader' | 'app' = 'app';
  bootCount = 0;
  baud: number;
  private readonly decoder = new SlipDecoder();
  private session: FlashSession | undefined;
  private spiAttached = false;
  private dtr = false;
  private rts = false;
  private toHost: (bytes: Uint8Array) => void = () => {};
  private transitCorrupted = false;
  private appProcess: ChildProcessWithoutNullStreams | undefined;
  /** Which model the emulated app loaded at its last boot. */
  appModelSource: 'partition' | 'built-in' | undefined;

  constructor(readonly options: RomEmulatorOptions = {}) {
    this.flash = new Uint8Array(options.flashSize ?? 8 * 1024 * 1024).fill(0xff);
    this.baud = options.initialBaud ?? 115200;
  }

  /** Byte time at the current baud rate, in ms; 0 when not throttled. */
  byteTimeMs(bytes: number): number {
    return this.options.throttle ? (bytes * 10 * 1000) / this.baud : 0;
  }

  setSignals(dtr: boolean, rts: boolean): void {
    const enWasLow = this.rts;
    this.dtr = dtr;
    this.rts = rts;
    if (rts) {
      this.mode = 'off';
      this.stopApp();
    } else if (enWasLow) {
      this.boot();
    }
  }

  private boot(): void {
    this.bootCount++;
    this.session = undefined;
    this.spiAttached = false;
    const download = this.dtr;
    this.mode = download ? 'bootloader' : 'app';
    const banner = download
      ? 'ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n'
      : 'ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n';
    this.toHost(new TextEncoder().encode(banner));
    if (!download) this.startApp();
  }

  /** The model partition's model when its header is intact (magic, length, SHA-256), as the firmware checks. */
  private partitionModel(offset: number): Uint8Array | undefined {
    const h = this.flash.subarray(offset, offset + 64);
    const v = new DataView(h.buffer, h.byteOffset, 64);
    if (new TextDecoder().decode(h.subarray(0, 4)) !== 'PSMD') return undefined;
    const len = v.getUint32(8, true);
    if (len === 0 || offset + 64 + len > this.flash.length) return undefined;
    const model = this.flash.subarray(offset + 64, offset + 64 + len);
    const sha = createHash('sha256').update(model).digest();
    return sha.equals(Buffer.from(h.subarray(16, 48))) ? model : undefined;
  }

  private startApp(): void {
    const app = this.options.app;
    if (!app) return;
    this.stopApp();
    const fromPartition = this.partitionModel(app.modelPartitionOffset);
    let modelPath = app.builtinModel;
    this.appModelSource = 'built-in';
    if (fromPartition) {
      modelPath = join(mkdtempSync(join(tmpdir(), 'emu-model-')), 'model.tflite');
      writeFileSync(modelPath, fromPartition);
      this.appModelSource = 'partition';
    }
    const child = spawn(app.simBinary, ['--model', modelPath, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => this.toHost(new Uint8Array(b)));
    child.stderr.resume();
    child.stdin.on('error', () => {});
    this.appProcess = child;
  }

  stopApp(): void {
    this.appProcess?.kill('SIGKILL');
    this.appProcess = undefined;
  }

  receive(bytes: Uint8Array): void {
    if (this.mode === 'app') {
      this.appProcess?.stdin.write(bytes);
      return;
    }
    if (this.mode !== 'bootloader') return;
    for (const packet of this.decoder.push(bytes)) this.handle(packet);
  }

  private reply(cmd: number, value = 0, data: Uint8Array = new Uint8Array(0), status = 0, error = 0): void {
    this.toHost(slipEncode(encodeResponse(cmd, value, data, status, error)));
  }

  private fail(cmd: number, error: number): void {
    this.reply(cmd, 0, new Uint8Array(0), 1, error);
  }

  private handle(packet: Uint8Array): void {
    const c = decodeCommand(packet);
    if (!c) return;
    const v = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
    const word = (i: number) => v.getUint32(i * 4, true);
    switch (c.cmd) {
      case Cmd.SYNC:
        // The ROM answers a SYNC more than once.
        for (let i = 0; i < 4; i++) this.reply(Cmd.SYNC);
        return;
      case Cmd.READ_REG: {
        if (c.data.length !== 4) return this.fail(c.cmd, 0x05);
        const addr = word(0);
        this.reply(c.cmd, addr === CHIP_DETECT_MAGIC_REG ? (this.options.chipMagic ?? ESP32S3_MAGIC) : 0);
        return;
      }
      case Cmd.SPI_ATTACH:
        this.spiAttached = true;
        return this.reply(c.cmd);
      case Cmd.SPI_SET_PARAMS:
        return this.reply(c.cmd);
      case Cmd.CHANGE_BAUDRATE: {
        this.reply(c.cmd);
        this.baud = word(0);
        return;
      }
      case Cmd.FLASH_BEGIN: {
        if (!this.spiAttached) return this.fail(c.cmd, 0x06);
        if (c.data.length !== 16 && c.data.length !== 20) return this.fail(c.cmd, 0x05);
        const [eraseSize, blocks, blockSize, offset] = [word(0), word(1), word(2), word(3)];
        if (offset + Math.max(eraseSize, blocks * blockSize) > this.flash.length) return this.fail(c.cmd, 0x06);
        this.flash.fill(0xff, offset, offset + eraseSize);
        this.session = { offset, blocks, blockSize, nextSeq: 0 };
        this.writes.push({ offset, eraseSize });
        return this.reply(c.cmd);
      }
      case Cmd.FLASH_DATA: {
        const s = this.session;
        if (!s || c.data.length < 16) return this.fail(c.cmd, 0x05);
        const [len, seq] = [word(0), word(1)];
        const data = c.data.slice(16);
        if (data.length !== len || seq !== s.nextSeq || seq >= s.blocks) return this.fail(c.cmd, 0x05);
        const at = s.offset + seq * s.blockSize;
        const hit = this.options.corruptTransitAt;
        if (hit !== undefined && !this.transitCorrupted && hit >= at && hit + 1 < at + len) {
          data[hit - at] ^= 0x10;
          data[hit - at + 1] ^= 0x10;
          this.transitCorrupted = true;
        }
        if (checksum(data) !== (c.checksum & 0xff)) return this.fail(c.cmd, 0x07);
        this.flash.set(data, at);
        s.nextSeq++;
        return this.reply(c.cmd);
      }
      case Cmd.FLASH_END: {
        this.reply(c.cmd);
        this.session = undefined;
        if (c.data.length >= 4 && word(0) === 0) {
          this.rts = false;
          this.dtr = false;
          this.boot();
        }
        return;
      }
      case Cmd.SPI_FLASH_MD5: {
        const [offset, size] = [word(0), word(1)];
        if (offset + size > this.flash.length) return this.fail(c.cmd, 0x0a);
        const md5 = createHash('md5').update(this.flash.subarray(offset, offset + size)).digest('hex');
        return this.reply(c.cmd, 0, new TextEncoder().encode(md5));
      }
      default:
        return this.fail(c.cmd, 0x05);
    }
  }

  /** A node-serialport binding whose one port is this emulated board. */
  binding(path = '/dev/ttyEMU0'): BindingInterface {
    const emulator = this;
    return {
      async list() {
        return [
          { path, manufacturer: 'Espressif', serialNumber: 'EMU', pnpId: undefined, locationId: undefined, vendorId: '303a', productId: '1001' },
        ];
      },
      async open(options: OpenOptions) {
        if (options.path !== path) throw new Error(`ENOENT: no such port ${options.path}`);
        return new EmulatedPort(emulator, options);
      },
    };
  }

  attachHost(sink: (bytes: Uint8Array) => void): void {
    this.toHost = sink;
  }
}

class EmulatedPort implements BindingPortInterface {
  isOpen = true;
  readonly openOptions: Required<OpenOptions>;
  private readonly pending: Uint8Array[] = [];
  private readWaiter: (() => void) | undefined;
  private hostClock = 0;
  private deviceClock = 0;

  constructor(
    private readonly emulator: RomEmulator,
    options: OpenOptions,
  ) {
    this.openOptions = {
      dataBits: 8,
      lock: true,
      stopBits: 1,
      parity: 'none',
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: true,
      ...options,
    } as Required<OpenOptions>;
    emulator.attachHost((bytes) => this.deliver(bytes));
  }

  /** Device → host bytes arrive after their time on the wire. */
  private deliver(bytes: Uint8Array): void {
    const copy = bytes.slice();
    const delay = this.emulator.byteTimeMs(copy.length);
    if (delay === 0) {
      this.pending.push(copy);
      this.readWaiter?.();
      return;
    }
    this.deviceClock = Math.max(performance.now(), this.deviceClock) + delay;
    setTimeout(() => {
      this.pending.push(copy);
      this.readWaiter?.();
    }, this.deviceClock - performance.now());
  }

  async close(): Promise<void> {
    this.isOpen = false;
    this.readWaiter?.();
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    while (this.pending.length === 0) {
      if (!this.isOpen) throw Object.assign(new Error('port closed'), { canceled: true });
      await new Promise<void>((r) => (this.readWaiter = r));
      this.readWaiter = undefined;
    }
    const head = this.pending[0]!;
    const n = Math.min(length, head.length);
    buffer.set(head.subarray(0, n), offset);
    if (n === head.length) this.pending.shift();
    else this.pending[0] = head.subarray(n);
    return { buffer, bytesRead: n };
  }

  async write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) throw Object.assign(new Error('port closed'), { canceled: true });
    const delay = this.emulator.byteTimeMs(buffer.length);
    if (delay > 0) {
      this.hostClock = Math.max(performance.now(), this.hostClock) + delay;
      await new Promise((r) => setTimeout(r, this.hostClock - performance.now()));
    }
    this.emulator.receive(new Uint8Array(buffer));
  }

  async update(options: { baudRate: number }): Promise<void> {
    this.emulator.baud = options.baudRate;
  }

  async set(options: { dtr?: boolean; rts?: boolean }): Promise<void> {
    this.emulator.setSignals(options.dtr ?? false, options.rts ?? false);
  }

  async get(): Promise<PortStatus> {
    return { cts: false, dsr: false, dcd: false };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: this.emulator.baud };
  }

  async flush(): Promise<void> {
    this.pending.length = 0;
  }

  async drain(): Promise<void> {}
}
