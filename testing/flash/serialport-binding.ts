import type { BindingInterface, BindingPortInterface, OpenOptions, PortStatus } from '@serialport/bindings-interface';
import type { RomEmulator } from './rom-emulator.ts';

export interface EmulatedPortOptions {
  /**
   * The board is unplugged after this many writes reach it: every later write fails with EIO, as the
   * native binding's write(2) does once the USB device is gone.
   */
  failWritesAfter?: number;
  /** Called before each write with its 0-based index, so a test can see where a flash stood. */
  onWrite?: (index: number) => void;
}

/** A node-serialport binding whose one port is the emulated board, so the flasher's real stream code runs. */
export function emulatorBinding(emulator: RomEmulator, path = '/dev/ttyEMU0', portOptions: EmulatedPortOptions = {}): BindingInterface {
  const productId = emulator.wiring === 'usb-jtag' ? '1001' : 'ea60';
  const vendorId = emulator.wiring === 'usb-jtag' ? '303a' : '10c4';
  return {
    async list() {
      return [{ path, manufacturer: 'Espressif', serialNumber: 'EMU', pnpId: undefined, locationId: undefined, vendorId, productId }];
    },
    async open(options: OpenOptions) {
      if (options.path !== path) throw new Error(`ENOENT: no such port ${options.path}`);
      return new EmulatedPort(emulator, options, portOptions);
    },
  };
}

class EmulatedPort implements BindingPortInterface {
  isOpen = true;
  readonly openOptions: Required<OpenOptions>;
  private readonly pending: Uint8Array[] = [];
  private readWaiter: (() => void) | undefined;
  private writes = 0;

  constructor(
    private readonly emulator: RomEmulator,
    options: OpenOptions,
    private readonly portOptions: EmulatedPortOptions = {},
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
    emulator.attachHost((bytes) => {
      this.pending.push(bytes);
      this.readWaiter?.();
    });
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
    const index = this.writes++;
    this.portOptions.onWrite?.(index);
    const limit = this.portOptions.failWritesAfter;
    if (limit !== undefined && index >= limit) {
      throw Object.assign(new Error('EIO: i/o error, write'), { errno: -5, code: 'EIO', syscall: 'write' });
    }
    await this.emulator.fromHost(new Uint8Array(buffer));
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
