import type { RomEmulator } from '../../testing/flash/rom-emulator.ts';

interface SerialSignals {
  dataTerminalReady?: boolean;
  requestToSend?: boolean;
  break?: boolean;
}

/**
 * The part of the browser's Web Serial `SerialPort` that esptool-js uses (open/close, readable and
 * writable streams, setSignals, getInfo), wired to the emulated board in-process. Like the real API,
 * setSignals changes only the lines it names, and the streams are gone while the port is closed, so
 * esptool-js's baud change (close, reopen at the new rate) runs as it would in a browser.
 */
export class EmulatorWebSerialPort {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  private dtr = false;
  private rts = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  constructor(private readonly emulator: RomEmulator) {}

  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    // What a browser reports for the board: the S3's own USB-Serial-JTAG, or a CP2102 bridge.
    return this.emulator.wiring === 'usb-jtag' ? { usbVendorId: 0x303a, usbProductId: 0x1001 } : { usbVendorId: 0x10c4, usbProductId: 0xea60 };
  }

  async open(options: { baudRate: number }): Promise<void> {
    if (this.readable) throw new DOMException('The port is already open.', 'InvalidStateError');
    this.emulator.baud = options.baudRate;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.controller = undefined;
      },
    });
    this.emulator.attachHost((bytes) => {
      try {
        this.controller?.enqueue(bytes.slice());
      } catch {
        // The stream was cancelled while bytes were on their way: they are lost, as on a real port.
      }
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.emulator.fromHost(chunk),
    });
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    if (!this.readable) throw new DOMException('The port is closed.', 'InvalidStateError');
    if (signals.dataTerminalReady !== undefined) this.dtr = signals.dataTerminalReady;
    if (signals.requestToSend !== undefined) this.rts = signals.requestToSend;
    this.emulator.setSignals(this.dtr, this.rts);
  }

  async close(): Promise<void> {
    try {
      this.controller?.close();
    } catch {
      // already closed by a cancel
    }
    this.controller = undefined;
    this.emulator.attachHost(() => {});
    this.readable = null;
    this.writable = null;
  }
}
