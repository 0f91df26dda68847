/** Payload layouts of the sorter serial protocol (docs/protocol.md §Messages), little-endian. */
import { UserError } from '../util/errors.ts';

export class PayloadWriter {
  private parts: Uint8Array[] = [];
  private scratch = new DataView(new ArrayBuffer(4));
  private push(n: number): void {
    this.parts.push(new Uint8Array(this.scratch.buffer.slice(0, n)));
  }
  u8(v: number): this {
    this.scratch.setUint8(0, v);
    this.push(1);
    return this;
  }
  u16(v: number): this {
    this.scratch.setUint16(0, v, true);
    this.push(2);
    return this;
  }
  u32(v: number): this {
    this.scratch.setUint32(0, v >>> 0, true);
    this.push(4);
    return this;
  }
  i32(v: number): this {
    this.scratch.setInt32(0, v, true);
    this.push(4);
    return this;
  }
  f32(v: number): this {
    this.scratch.setFloat32(0, v, true);
    this.push(4);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s).subarray(0, 0xffff);
    return this.u16(b.length).bytes(b);
  }
  finish(): Uint8Array {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Thrown when a payload is shorter than its layout or has bytes left over. */
export class PayloadError extends Error {}

export class PayloadReader {
  private pos = 0;
  private readonly dv: DataView;
  constructor(private readonly b: Uint8Array, private readonly what: string) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): number {
    if (this.pos + n > this.b.length) throw new PayloadError(`${this.what} payload too short (${this.b.length} bytes)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.dv.getUint8(this.need(1));
  }
  u16(): number {
    return this.dv.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.dv.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.dv.getInt32(this.need(4), true);
  }
  f32(): number {
    return this.dv.getFloat32(this.need(4), true);
  }
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.b.slice(at, at + n);
  }
  str(): string {
    return new TextDecoder().decode(this.bytes(this.u16()));
  }
  rest(): Uint8Array {
    return this.bytes(this.b.length - this.pos);
  }
  end(): void {
    if (this.pos !== this.b.length) throw new PayloadError(`${this.what} payload has ${this.b.length - this.pos} unexpected trailing bytes`);
  }
}

export interface InfoMessage {
  protocolVersion: number;
  ready: boolean;
  bootId: number;
  maxPayload: number;
  firmwareVersion: string;
  /** Lower-case hex. */
  modelSha256: string;
  width: number;
  height: number;
  channels: number;
  inputScale: number;
  inputZeroPoint: number;
  outputScale: number;
  outputZeroPoint: number;
  numClasses: number;
  arenaUsedBytes: number;
  /** Why the model is not ready; '' when ready. */
  status: string;
  labels: string[];
  /**
   * SHA-256 of the running app's ELF (esp_app_desc_t.app_elf_sha256), lower-case hex: what the
   * flasher compares with the app image it wrote. Absent where there is no app image (the simulator).
   */
  appElfSha256?: string;
}

export interface ResultMessage {
  classIndex: number;
  invokeUs: number;
  scores: Int8Array;
}

export interface ErrorMessage {
  code: number;
  text: string;
}

export interface DumpTensorMessage {
  index: number;
  count: number;
  totalLength: number;
  offset: number;
  name: string;
  data: Int8Array;
}

export interface DumpEndMessage {
  count: number;
  result: ResultMessage;
}

function hexToBytes(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2) throw new UserError(`"${hex}" is not a hex string`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return hexToBytes(hex);
}

export function encodeInfo(m: InfoMessage): Uint8Array {
  const sha = hexToBytes(m.modelSha256);
  if (sha.length !== 32) throw new RangeError('modelSha256 must be 32 bytes');
  const w = new PayloadWriter()
    .u8(m.protocolVersion)
    .u8(m.ready ? 1 : 0)
    .u32(m.bootId)
    .u32(m.maxPayload)
    .str(m.firmwareVersion)
    .bytes(sha)
    .u16(m.width)
    .u16(m.height)
    .u16(m.channels)
    .f32(m.inputScale)
    .i32(m.inputZeroPoint)
    .f32(m.outputScale)
    .i32(m.outputZeroPoint)
    .u16(m.numClasses)
    .u32(m.arenaUsedBytes)
    .str(m.status)
    .u16(m.labels.length);
  for (const l of m.labels) w.str(l);
  if (m.appElfSha256 !== undefined) {
    const app = hexToBytes(m.appElfSha256);
    if (app.length !== 32) throw new RangeError('appElfSha256 must be 32 bytes');
    w.bytes(app);
  }
  return w.finish();
}

export function decodeInfo(p: Uint8Array): InfoMessage {
  const r = new PayloadReader(p, 'INFO');
  const protocolVersion = r.u8();
  const ready = (r.u8() & 1) === 1;
  const bootId = r.u32();
  const maxPayload = r.u32();
  const firmwareVersion = r.str();
  const modelSha256 = toHex(r.bytes(32));
  const m: InfoMessage = {
    protocolVersion,
    ready,
    bootId,
    maxPayload,
    firmwareVersion,
    modelSha256,
    width: r.u16(),
    height: r.u16(),
    channels: r.u16(),
    inputScale: r.f32(),
    inputZeroPoint: r.i32(),
    outputScale: r.f32(),
    outputZeroPoint: r.i32(),
    numClasses: r.u16(),
    arenaUsedBytes: r.u32(),
    status: r.str(),
    labels: [],
  };
  const n = r.u16();
  for (let i = 0; i < n; i++) m.labels.push(r.str());
  // Optional trailing field: firmware that knows its app image sends exactly 32 more bytes.
  const rest = r.rest();
  if (rest.length === 32) m.appElfSha256 = toHex(rest);
  else if (rest.length !== 0) throw new PayloadError(`INFO payload has ${rest.length} unexpected trailing bytes`);
  return m;
}

function writeResult(w: PayloadWriter, m: ResultMessage): PayloadWriter {
  return w
    .u16(m.classIndex)
    .u32(m.invokeUs)
    .u16(m.scores.length)
    .bytes(new Uint8Array(m.scores.buffer, m.scores.byteOffset, m.scores.length));
}

function readResult(r: PayloadReader): ResultMessage {
  const classIndex = r.u16();
  const invokeUs = r.u32();
  const n = r.u16();
  const b = r.bytes(n);
  return { classIndex, invokeUs, scores: new Int8Array(b.buffer, b.byteOffset, n) };
}

export function encodeResult(m: ResultMessage): Uint8Array {
  return writeResult(new PayloadWriter(), m).finish();
}

export function decodeResult(p: Uint8Array): ResultMessage {
  const r = new PayloadReader(p, 'RESULT');
  const m = readResult(r);
  r.end();
  return m;
}

export function encodeError(m: ErrorMessage): Uint8Array {
  return new PayloadWriter().u16(m.code).str(m.text).finish();
}

export function decodeError(p: Uint8Array): ErrorMessage {
  const r = new PayloadReader(p, 'ERROR');
  const m = { code: r.u16(), text: r.str() };
  r.end();
  return m;
}

export function encodeDumpTensor(m: DumpTensorMessage): Uint8Array {
  return new PayloadWriter()
    .u16(m.index)
    .u16(m.count)
    .u32(m.totalLength)
    .u32(m.offset)
    .str(m.name)
    .bytes(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.length))
    .finish();
}

export function decodeDumpTensor(p: Uint8Array): DumpTensorMessage {
  const r = new PayloadReader(p, 'DUMP_TENSOR');
  const index = r.u16();
  const count = r.u16();
  const totalLength = r.u32();
  const offset = r.u32();
  const name = r.str();
  const b = r.rest();
  if (offset + b.length > totalLength) throw new PayloadError('DUMP_TENSOR chunk runs past the tensor length');
  return { index, count, totalLength, offset, name, data: new Int8Array(b.buffer, b.byteOffset, b.length) };
}

export function encodeDumpEnd(m: DumpEndMessage): Uint8Array {
  return writeResult(new PayloadWriter().u16(m.count), m.result).finish();
}

export function decodeDumpEnd(p: Uint8Array): DumpEndMessage {
  const r = new PayloadReader(p, 'DUMP_END');
  const count = r.u16();
  const result = readResult(r);
  r.end();
  return { count, result };
}
