/**
 * Host side of the sorter protocol: handshake, INFER with timeouts and retries, DUMP, and detection of
 * a device reset (a fresh boot announcement or a changed boot id) after which unanswered requests are
 * sent again. Requests are pipelined: callers may keep several in flight; the device answers in order.
 */
import { FrameDecoder, MsgType, PROTOCOL_VERSION, SEQ_UNSOLICITED, encodeFrame, msgTypeName, wireSize, ErrorCode, type Frame } from './protocol.ts';
import { decodeDumpEnd, decodeDumpTensor, decodeError, decodeInfo, decodeResult, PayloadError, type InfoMessage, type ResultMessage } from './messages.ts';
import { LinkClosedError, type Transport } from './port.ts';
import { UserError } from '../util/errors.ts';

export class DeviceError extends Error {
  constructor(readonly code: number, readonly text: string, readonly request: string) {
    super(`device refused ${request}: ${text} (error ${code})`);
    this.name = 'DeviceError';
  }
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export interface ClientOptions {
  /** Time for one answer beyond the transfer time of the request at `baud`. */
  timeoutMs?: number;
  /** Sends of a request after the first one before it fails with TimeoutError. */
  retries?: number;
  /** Line rate used to stretch timeouts by the transfer time; 0 = unthrottled. */
  baud?: number;
}

export interface DumpedTensor {
  name: string;
  data: Int8Array;
}

interface Pending {
  type: number;
  payload: Uint8Array;
  attempts: number;
  timer?: NodeJS.Timeout;
  resolve(f: Frame): void;
  reject(e: Error): void;
  /** DUMP collects DUMP_TENSOR frames until DUMP_END. */
  onPartial?(f: Frame): void;
}

export interface LinkStats {
  bytesSent: number;
  bytesReceived: number;
  framesRejected: number;
  retries: number;
  resets: number;
}

export class SorterClient {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;
  private closedReason: string | null = null;
  private info: InfoMessage | null = null;
  private expectedSha: string | null = null;
  readonly stats: LinkStats = { bytesSent: 0, bytesReceived: 0, framesRejected: 0, retries: 0, resets: 0 };
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly baud: number;
  private fatal: Error | null = null;

  constructor(private readonly transport: Transport, opts: ClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 2;
    this.baud = opts.baud ?? 0;
    transport.onData((chunk) => this.onData(chunk));
    transport.onClose((reason) => this.onClose(reason));
  }

  get deviceInfo(): InfoMessage | null {
    return this.info;
  }

  get description(): string {
    return this.transport.description;
  }

  /**
   * HELLO → INFO. Refuses (UserError) a device speaking another protocol version, one whose model is
   * not loaded, or, when `modelSha256` is given, one holding a different model.
   */
  async handshake(modelSha256?: string): Promise<InfoMessage> {
    if (modelSha256) this.expectedSha = modelSha256.toLowerCase();
    // A leading delimiter ends any partial bytes (boot log, a half-sent frame) on the line.
    await this.writeRaw(Uint8Array.of(0));
    let frame: Frame;
    try {
      frame = await this.request(MsgType.HELLO, new Uint8Array(0));
    } catch (e) {
      if (e instanceof DeviceError && e.code === ErrorCode.UNSUPPORTED_VERSION) {
        throw new UserError(`${this.description}: the device speaks another protocol version (${e.text}); this host speaks version ${PROTOCOL_VERSION}: flash matching firmware or use a matching plastisort`);
      }
      if (e instanceof TimeoutError) {
        throw new UserError(`${this.description}: no answer to HELLO (${e.message}); check that the board runs the plastisort firmware and that --port is its data port`);
      }
      throw e;
    }
    const info = this.acceptInfo(frame);
    this.info = info;
    return info;
  }

  private acceptInfo(frame: Frame): InfoMessage {
    if (frame.version !== PROTOCOL_VERSION) {
      throw new UserError(`${this.description}: the device speaks protocol version ${frame.version}, this host speaks ${PROTOCOL_VERSION}: flash matching firmware or use a matching plastisort`);
    }
    const info = decodeInfo(frame.payload);
    if (info.protocolVersion !== PROTOCOL_VERSION) {
      throw new UserError(`${this.description}: the device speaks protocol version ${info.protocolVersion}, this host speaks ${PROTOCOL_VERSION}`);
    }
    if (this.expectedSha && info.modelSha256 !== this.expectedSha) {
      throw new UserError(
        `${this.description}: the device runs model ${info.modelSha256.slice(0, 16)}…, not the model under test (${this.expectedSha.slice(0, 16)}…); flash it with plastisort flash or pass the .tflite the device holds`,
      );
    }
    if (!info.ready) {
      throw new UserError(`${this.description}: the device has no usable model (${info.status}); flash a valid model`);
    }
    return info;
  }

  async infer(tensor: Int8Array): Promise<ResultMessage> {
    const f = await this.request(MsgType.INFER, new Uint8Array(tensor.buffer, tensor.byteOffset, tensor.length));
    try {
      return decodeResult(f.payload);
    } catch (e) {
      if (e instanceof PayloadError) throw this.protocolViolation(`sent a malformed RESULT (${e.message})`);
      throw e;
    }
  }

  /** The far end broke the protocol: not a plastisort device, or firmware from another version. */
  private protocolViolation(what: string): UserError {
    return new UserError(`${this.description}: the device ${what}; check that --port is the board's data port and that its firmware matches this plastisort (flash it with plastisort flash)`);
  }

  async ping(payload: Uint8Array): Promise<Uint8Array> {
    return (await this.request(MsgType.PING, payload)).payload;
  }

  /** Runs one input and returns every tensor the device exposes, in operator order, with the result. */
  async dump(tensor: Int8Array): Promise<{ tensors: DumpedTensor[]; result: ResultMessage }> {
    const tensors: DumpedTensor[] = [];
    const onPartial = (f: Frame) => {
      const m = decodeDumpTensor(f.payload);
      if (m.offset === 0) tensors[m.index] = { name: m.name, data: new Int8Array(m.totalLength) };
      const t = tensors[m.index];
      if (t) t.data.set(m.data, m.offset);
    };
    const f = await this.request(MsgType.DUMP, new Uint8Array(tensor.buffer, tensor.byteOffset, tensor.length), onPartial);
    const end = decodeDumpEnd(f.payload);
    return { tensors: Array.from({ length: end.count }, (_, i) => tensors[i] ?? { name: `#${i} (missing)`, data: new Int8Array(0) }), result: end.result };
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  // ----------------------------------------------------------------------------------------------

  private allocSeq(): number {
    for (;;) {
      const s = this.nextSeq;
      this.nextSeq = (this.nextSeq + 1) % SEQ_UNSOLICITED;
      if (!this.pending.has(s)) return s;
    }
  }

  private request(type: number, payload: Uint8Array, onPartial?: (f: Frame) => void): Promise<Frame> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.closedReason) return Promise.reject(new LinkClosedError(this.closedReason));
    const seq = this.allocSeq();
    return new Promise<Frame>((resolve, reject) => {
      const p: Pending = { type, payload, attempts: 0, resolve, reject };
      if (onPartial) p.onPartial = onPartial;
      this.pending.set(seq, p);
      this.send(seq, p);
    });
  }

  private timeoutFor(p: Pending): number {
    // Transfer time of this request plus everything queued before it (the device answers in order).
    let bytes = wireSize(p.payload.length);
    for (const q of this.pending.values()) bytes += wireSize(q.payload.length);
    const transfer = this.baud > 0 ? (bytes * 10 * 1000) / this.baud : 0;
    return this.timeoutMs + transfer * (p.type === MsgType.DUMP ? 50 : 1);
  }

  private send(seq: number, p: Pending): void {
    p.attempts++;
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => this.onTimeout(seq), this.timeoutFor(p));
    this.writeRaw(encodeFrame(p.type, seq, p.payload)).catch((e: Error) => this.failAll(e));
  }

  private async writeRaw(bytes: Uint8Array): Promise<void> {
    this.stats.bytesSent += bytes.length;
    await this.transport.write(bytes);
  }

  private onTimeout(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    if (p.attempts > this.retries) {
      this.pending.delete(seq);
      p.reject(new TimeoutError(`${msgTypeName(p.type)} seq ${seq} unanswered after ${p.attempts} attempts`));
      return;
    }
    this.stats.retries++;
    this.send(seq, p);
  }

  private onData(chunk: Uint8Array): void {
    this.stats.bytesReceived += chunk.length;
    for (const ev of this.decoder.push(chunk)) {
      if (ev.kind === 'error') {
        this.stats.framesRejected++;
        continue;
      }
      this.onFrame(ev.frame);
    }
  }

  private onFrame(f: Frame): void {
    if (f.type === MsgType.INFO && (f.seq === SEQ_UNSOLICITED || (this.info && !this.pending.has(f.seq)))) {
      this.onAnnouncement(f);
      return;
    }
    const p = this.pending.get(f.seq);
    if (!p) return; // a late answer to a request already answered or given up
    if (f.type === MsgType.INFO && this.info) {
      try {
        const info = decodeInfo(f.payload);
        if (info.bootId !== this.info.bootId) this.onReset(info, f);
      } catch {
        /* decoded again by the handshake caller */
      }
    }
    if (f.type === MsgType.DUMP_TENSOR && p.onPartial) {
      try {
        p.onPartial(f);
      } catch (e) {
        this.finish(f.seq, p);
        p.reject(e as Error);
      }
      // A long dump is progressing: push the deadline out.
      if (p.timer) clearTimeout(p.timer);
      p.timer = setTimeout(() => this.onTimeout(f.seq), this.timeoutFor(p));
      return;
    }
    this.finish(f.seq, p);
    if (f.type === MsgType.ERROR) {
      const e = decodeError(f.payload);
      p.reject(new DeviceError(e.code, e.text, msgTypeName(p.type)));
      return;
    }
    const want = { [MsgType.HELLO]: MsgType.INFO, [MsgType.INFER]: MsgType.RESULT, [MsgType.DUMP]: MsgType.DUMP_END, [MsgType.PING]: MsgType.PONG }[p.type];
    if (f.type !== want) {
      p.reject(this.protocolViolation(`answered ${msgTypeName(p.type)} with ${msgTypeName(f.type)}`));
      return;
    }
    p.resolve(f);
  }

  private finish(seq: number, p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    this.pending.delete(seq);
  }

  /** A boot announcement: if it comes from a new boot, the device lost whatever we had sent. */
  private onAnnouncement(f: Frame): void {
    let info: InfoMessage;
    try {
      info = decodeInfo(f.payload);
    } catch {
      return;
    }
    if (!this.info) return; // before the handshake: stale bytes from an earlier boot
    if (info.bootId === this.info.bootId) return;
    this.onReset(info, f);
  }

  private onReset(info: InfoMessage, f: Frame): void {
    this.stats.resets++;
    try {
      this.acceptInfo(f);
    } catch (e) {
      this.fatal = e as Error;
      this.failAll(e as Error);
      return;
    }
    this.info = info;
    // Resend in sequence order so the device answers in the order callers expect.
    for (const [seq, p] of [...this.pending.entries()].sort((a, b) => a[0] - b[0])) {
      if (p.type === MsgType.HELLO) continue;
      p.attempts = 0;
      this.send(seq, p);
    }
  }

  private onClose(reason: string): void {
    this.closedReason = reason;
    this.failAll(new LinkClosedError(reason));
  }

  private failAll(e: Error): void {
    for (const [seq, p] of this.pending) {
      this.finish(seq, p);
      p.reject(e);
    }
  }
}
