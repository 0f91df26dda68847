/**
 * The sorter serial protocol (docs/protocol.md), TypeScript side. The C++ side lives in
 * firmware/components/sorter_link; test/vectors/protocol-frames.json holds golden frames both check.
 */
import { crc32 } from '../util/crc32.ts';

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 8;
export const CRC_SIZE = 4;
/** One INFER frame holds a whole 224×224×3 int8 tensor (150,528 bytes) without chunking. */
export const MAX_PAYLOAD = 160 * 1024;
export const DUMP_CHUNK = 32 * 1024;
export const SEQ_UNSOLICITED = 0xffff;

export const MsgType = {
  HELLO: 0x01,
  INFO: 0x02,
  INFER: 0x03,
  RESULT: 0x04,
  DUMP: 0x05,
  DUMP_TENSOR: 0x06,
  DUMP_END: 0x07,
  ERROR: 0x08,
  PING: 0x09,
  PONG: 0x0a,
} as const;
export type MsgTypeName = keyof typeof MsgType;

export const ErrorCode = {
  UNSUPPORTED_VERSION: 1,
  UNKNOWN_TYPE: 2,
  BAD_PAYLOAD: 3,
  NOT_READY: 4,
  INVOKE_FAILED: 5,
  NO_DUMP: 6,
  BUSY: 7,
} as const;

export function msgTypeName(type: number): string {
  for (const [k, v] of Object.entries(MsgType)) if (v === type) return k;
  return `0x${type.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- COBS

/** COBS-encodes `data` (no delimiter). A final full 254-byte block gets no trailing code byte. */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + Math.ceil(data.length / 254) + 1);
  let o = 1;
  let codeAt = 0;
  let code = 1;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b !== 0) {
      out[o++] = b;
      code++;
    }
    if (b === 0 || code === 0xff) {
      out[codeAt] = code;
      code = 1;
      codeAt = o;
      if (b === 0 || i + 1 < data.length) o++;
    }
  }
  if (codeAt < o) out[codeAt] = code;
  return out.subarray(0, o);
}

// ---------------------------------------------------------------- frames

export interface Frame {
  version: number;
  type: number;
  seq: number;
  payload: Uint8Array;
}

/** header + payload + CRC, COBS-encoded, followed by the 0x00 delimiter. */
export function encodeFrame(type: number, seq: number, payload: Uint8Array, version = PROTOCOL_VERSION): Uint8Array {
  if (payload.length > 0xffffffff) throw new RangeError('payload too large');
  const body = new Uint8Array(HEADER_SIZE + payload.length + CRC_SIZE);
  const dv = new DataView(body.buffer);
  body[0] = version;
  body[1] = type;
  dv.setUint16(2, seq, true);
  dv.setUint32(4, payload.length, true);
  body.set(payload, HEADER_SIZE);
  dv.setUint32(HEADER_SIZE + payload.length, crc32(body.subarray(0, HEADER_SIZE + payload.length)), true);
  const enc = cobsEncode(body);
  const out = new Uint8Array(enc.length + 1);
  out.set(enc);
  return out;
}

/** Bytes on the wire for a frame with `payloadLen` payload bytes (worst case when zeros are rare). */
export function wireSize(payloadLen: number): number {
  const body = HEADER_SIZE + payloadLen + CRC_SIZE;
  return body + Math.ceil(body / 254) + 1;
}

export type DecodeErrorKind = 'oversized' | 'truncated' | 'too-short' | 'length-mismatch' | 'bad-crc';

export type DecodeEvent = { kind: 'frame'; frame: Frame } | { kind: 'error'; error: DecodeErrorKind };

/**
 * Streaming decoder: push any chunk of bytes, get complete frames and rejections. Any error discards
 * up to the next 0x00, where decoding resumes. Empty frames (repeated delimiters) are ignored.
 */
export class FrameDecoder {
  private readonly buf: Uint8Array;
  private len = 0;
  private remaining = 0;
  private pendingZero = false;
  private inBlock = false;
  private discarding: DecodeErrorKind | null = null;
  framesOk = 0;
  framesRejected = 0;

  constructor(readonly maxPayload = MAX_PAYLOAD) {
    this.buf = new Uint8Array(HEADER_SIZE + maxPayload + CRC_SIZE);
  }

  push(chunk: Uint8Array): DecodeEvent[] {
    const events: DecodeEvent[] = [];
    const buf = this.buf;
    const max = buf.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0) {
        const ev = this.finish();
        if (ev) events.push(ev);
        continue;
      }
      if (this.discarding) continue;
      if (!this.inBlock || this.remaining === 0) {
        if (this.pendingZero) {
          if (this.len >= max) {
            this.discarding = 'oversized';
            continue;
          }
          buf[this.len++] = 0;
        }
        this.remaining = b - 1;
        this.pendingZero = b !== 0xff;
        this.inBlock = true;
        continue;
      }
      if (this.len >= max) {
        this.discarding = 'oversized';
        continue;
      }
      buf[this.len++] = b;
      this.remaining--;
    }
    return events;
  }

  private reset(): void {
    this.len = 0;
    this.remaining = 0;
    this.pendingZero = false;
    this.inBlock = false;
    this.discarding = null;
  }

  private finish(): DecodeEvent | null {
    if (!this.inBlock && !this.discarding) {
      this.reset();
      return null;
    }
    let error: DecodeErrorKind | null = null;
    let frame: Frame | null = null;
    if (this.discarding) error = this.discarding;
    else if (this.remaining !== 0) error = 'truncated';
    else if (this.len < HEADER_SIZE + CRC_SIZE) error = 'too-short';
    else {
      const b = this.buf;
      const dv = new DataView(b.buffer, b.byteOffset, this.len);
      const payloadLen = dv.getUint32(4, true);
      const body = this.len - CRC_SIZE;
      if (payloadLen !== body - HEADER_SIZE) error = 'length-mismatch';
      else if (crc32(b.subarray(0, body)) !== dv.getUint32(body, true)) error = 'bad-crc';
      else
        frame = {
          version: b[0]!,
          type: b[1]!,
          seq: dv.getUint16(2, true),
          payload: b.slice(HEADER_SIZE, body),
        };
    }
    this.reset();
    if (error) {
      this.framesRejected++;
      return { kind: 'error', error };
    }
    this.framesOk++;
    return { kind: 'frame', frame: frame! };
  }
}
