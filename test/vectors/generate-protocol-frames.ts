/**
 * Writes test/vectors/protocol-frames.json, the golden frames that the C++ (ctest) and TypeScript
 * (vitest) protocol tests both read. Run after a deliberate protocol change:
 *   node --import tsx test/vectors/generate-protocol-frames.ts
 * and review the diff: the C++ dispatcher must then reproduce every expected response byte for byte.
 * Fake devices describe a Classifier by value so both test suites can build the same one.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DUMP_CHUNK,
  ErrorCode,
  MAX_PAYLOAD,
  MsgType,
  PROTOCOL_VERSION,
  SEQ_UNSOLICITED,
  encodeFrame,
  type Frame,
} from '../../host/link/protocol.ts';
import { crc32 } from '../../host/util/crc32.ts';
import {
  encodeDumpEnd,
  encodeDumpTensor,
  encodeError,
  encodeInfo,
  encodeResult,
  toHex,
  type InfoMessage,
} from '../../host/link/messages.ts';

interface FakeTensor {
  name: string;
  /** data[i] = (i * mul + add) mod 256, as int8 */
  length: number;
  mul: number;
  add: number;
}
interface FakeDevice {
  ready: boolean;
  lastError: string;
  firmwareVersion: string;
  labels: string[];
  bootId: number;
  modelSha256: string;
  width: number;
  height: number;
  channels: number;
  inputScale: number;
  inputZeroPoint: number;
  outputScale: number;
  outputZeroPoint: number;
  arenaUsedBytes: number;
  scores: number[];
  invokeUs: number;
  tensors: FakeTensor[];
}

export function fakeTensorData(t: FakeTensor): Int8Array {
  const out = new Int8Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = ((i * t.mul + t.add) & 0xff) << 24 >> 24;
  return out;
}

const sha = toHex(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff));
const devices: Record<string, FakeDevice> = {
  ok: {
    ready: true,
    lastError: '',
    firmwareVersion: 'plastisort-fw 0.1.0 (test)',
    labels: ['HDPE', 'LDPE', 'PET', 'PP', 'PS', 'PVC'],
    bootId: 0x5eed1234,
    modelSha256: sha,
    width: 4,
    height: 4,
    channels: 3,
    inputScale: 0.0078125,
    inputZeroPoint: -1,
    outputScale: 0.00390625,
    outputZeroPoint: -128,
    arenaUsedBytes: 123456,
    scores: [-128, -100, 90, -128, 12, -60],
    invokeUs: 4321,
    tensors: [
      { name: 'conv1', length: 300, mul: 7, add: 3 },
      { name: 'empty', length: 0, mul: 1, add: 0 },
      { name: 'big', length: DUMP_CHUNK + 100, mul: 13, add: 250 },
      { name: 'predictions', length: 6, mul: 1, add: 0 },
    ],
  },
  notReady: {
    ready: false,
    lastError: 'arena too small: the model needs 401408 bytes, 262144 available',
    firmwareVersion: 'plastisort-fw 0.1.0 (test)',
    labels: [],
    bootId: 42,
    modelSha256: '00'.repeat(32),
    width: 0,
    height: 0,
    channels: 0,
    inputScale: 0,
    inputZeroPoint: 0,
    outputScale: 0,
    outputZeroPoint: 0,
    arenaUsedBytes: 0,
    scores: [],
    invokeUs: 0,
    tensors: [],
  },
};
devices.ok!.tensors[3] = { name: 'predictions', length: 6, mul: 1, add: 0 };

function infoOf(d: FakeDevice): InfoMessage {
  return {
    protocolVersion: PROTOCOL_VERSION,
    ready: d.ready,
    bootId: d.bootId,
    maxPayload: MAX_PAYLOAD,
    firmwareVersion: d.firmwareVersion,
    modelSha256: d.modelSha256,
    width: d.width,
    height: d.height,
    channels: d.channels,
    inputScale: d.inputScale,
    inputZeroPoint: d.inputZeroPoint,
    outputScale: d.outputScale,
    outputZeroPoint: d.outputZeroPoint,
    numClasses: d.scores.length,
    arenaUsedBytes: d.arenaUsedBytes,
    status: d.ready ? '' : d.lastError,
    labels: d.labels,
  };
}

function argmax(s: number[]): number {
  let b = 0;
  for (let i = 1; i < s.length; i++) if (s[i]! > s[b]!) b = i;
  return b;
}

const hex = toHex;
const frameHex = (type: number, seq: number, payload: Uint8Array, version = PROTOCOL_VERSION) =>
  hex(encodeFrame(type, seq, payload, version));
const bytes = (n: number, f: (i: number) => number) => new Uint8Array(n).map((_, i) => f(i) & 0xff);

// ------------------------------------------------------------------ plain frames
function frameCase(name: string, type: number, seq: number, payload: Uint8Array, version = PROTOCOL_VERSION) {
  return { name, version, type, seq, payloadHex: hex(payload), encodedHex: frameHex(type, seq, payload, version) };
}

// A body that ends in a full 254-byte COBS block, which needs no final code byte: the header's
// last zero is its top length byte, so 250 non-zero payload bytes plus a CRC without zeros.
function fullFinalBlockPayload(): Uint8Array {
  for (let salt = 1; ; salt++) {
    const p = bytes(250, (i) => 1 + ((i * salt + salt) % 255));
    const body = new Uint8Array(8 + 250);
    body.set([PROTOCOL_VERSION, MsgType.PING, 3, 0, 250, 0, 0, 0]);
    body.set(p, 8);
    const c = crc32(body);
    if ([0, 8, 16, 24].every((s) => ((c >>> s) & 0xff) !== 0)) return p;
  }
}

const frames = [
  frameCase('hello-empty', MsgType.HELLO, 1, new Uint8Array(0)),
  frameCase('ping-ascii', MsgType.PING, 0x1234, new TextEncoder().encode('123456789')),
  frameCase('ping-zeros', MsgType.PING, 2, new Uint8Array(5)),
  frameCase('ping-multi-block', MsgType.PING, 0xfffe, bytes(700, (i) => (i % 300 === 0 ? 0 : i * 31 + 1))),
  frameCase('ping-full-final-block', MsgType.PING, 3, fullFinalBlockPayload()),
  frameCase('future-version', MsgType.INFER, 9, bytes(10, (i) => i + 1), 2),
  frameCase('result', MsgType.RESULT, 77, encodeResult({ classIndex: 2, invokeUs: 123456, scores: Int8Array.from([-128, 5, 127, 0]) })),
  frameCase('error', MsgType.ERROR, 5, encodeError({ code: ErrorCode.BAD_PAYLOAD, text: 'input has 5 bytes' })),
  frameCase('info', MsgType.INFO, SEQ_UNSOLICITED, encodeInfo(infoOf(devices.ok!))),
];

// ------------------------------------------------------------------ streams with rejections
const good = (seq: number) => encodeFrame(MsgType.PING, seq, bytes(20, (i) => i * 3 + seq));
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const flip = (f: Uint8Array, at: number, bit: number) => {
  const c = f.slice();
  c[at]! ^= 1 << bit;
  if (c[at] === 0) c[at] = 0x55; // a flip to 0x00 would be a delimiter, tested separately
  return c;
};
const frameEvent = (seq: number) => ({
  frame: { version: PROTOCOL_VERSION, type: MsgType.PING, seq, payloadHex: hex(bytes(20, (i) => i * 3 + seq)) },
});
const badLength = (() => {
  // A well-formed frame whose header announces one byte more than it carries.
  const p = bytes(6, (i) => i + 1);
  const body = cat(new Uint8Array([PROTOCOL_VERSION, MsgType.PING, 1, 0, 7, 0, 0, 0]), p);
  const crc = crc32(body);
  const full = cat(body, new Uint8Array([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24]));
  return cat(cobs(full), new Uint8Array([0]));
})();
function cobs(b: Uint8Array): Uint8Array {
  // Same COBS as encodeFrame, without the CRC/header handling.
  const out: number[] = [0];
  let codeAt = 0;
  let code = 1;
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0) {
      out.push(b[i]!);
      code++;
    }
    if (b[i] === 0 || code === 0xff) {
      out[codeAt] = code;
      code = 1;
      codeAt = out.length;
      if (b[i] === 0 || i + 1 < b.length) out.push(0);
    }
  }
  if (codeAt < out.length) out[codeAt] = code;
  return Uint8Array.from(out);
}

type Segment = { hex: string } | { fill: number; count: number };
const g1 = good(1);
// COBS blocks of 0x41 bytes, more than a maximal frame holds, then the delimiter.
const oversizedFill = 0x41;
const oversizedBlocks = Math.ceil((MAX_PAYLOAD + 100) / 254);
const oversizedSegments: Segment[] = [];
for (let i = 0; i < oversizedBlocks; i++) {
  oversizedSegments.push({ hex: 'ff' }, { fill: oversizedFill, count: 254 });
}
const streams: { name: string; segments: Segment[]; events: unknown[] }[] = [
  { name: 'two-frames', segments: [{ hex: hex(cat(g1, good(2))) }], events: [frameEvent(1), frameEvent(2)] },
  {
    name: 'leading-delimiters-and-garbage',
    segments: [{ hex: hex(cat(new Uint8Array([0, 0]), new TextEncoder().encode('I (123) boot: ESP-IDF v5.3\r\n'), new Uint8Array([0]), good(3))) }],
    events: [{ error: 'truncated' }, frameEvent(3)],
  },
  { name: 'bit-flip-in-payload', segments: [{ hex: hex(cat(flip(good(4), 15, 2), good(5))) }], events: [{ error: 'bad-crc' }, frameEvent(5)] },
  { name: 'bit-flip-in-code-byte', segments: [{ hex: hex(cat(flip(good(6), 0, 3), good(7))) }], events: [{ error: 'truncated' }, frameEvent(7)] },
  { name: 'truncated-frame', segments: [{ hex: hex(cat(g1.subarray(0, 12), new Uint8Array([0]), good(8))) }], events: [{ error: 'truncated' }, frameEvent(8)] },
  { name: 'too-short', segments: [{ hex: hex(cat(new Uint8Array([0x03, 0x01, 0x02, 0x00]), good(9))) }], events: [{ error: 'too-short' }, frameEvent(9)] },
  { name: 'length-mismatch', segments: [{ hex: hex(cat(badLength, good(10))) }], events: [{ error: 'length-mismatch' }, frameEvent(10)] },
  { name: 'oversized', segments: [...oversizedSegments, { hex: '00' }, { hex: hex(good(11)) }], events: [{ error: 'oversized' }, frameEvent(11)] },
];

// ------------------------------------------------------------------ dispatcher exchanges
function responsesFor(deviceName: string, req: { version: number; type: number; seq: number; payload: Uint8Array }): string[] {
  const d = devices[deviceName]!;
  const out: string[] = [];
  if (req.version !== PROTOCOL_VERSION) {
    out.push(frameHex(MsgType.ERROR, req.seq, encodeError({ code: ErrorCode.UNSUPPORTED_VERSION, text: `device speaks protocol version ${PROTOCOL_VERSION}, request had version ${req.version}` })));
    return out;
  }
  const err = (code: number, text: string) => out.push(frameHex(MsgType.ERROR, req.seq, encodeError({ code, text })));
  const classify = (): boolean => {
    if (!d.ready) {
      err(ErrorCode.NOT_READY, d.lastError);
      return false;
    }
    const need = d.width * d.height * d.channels;
    if (req.payload.length !== need) {
      err(ErrorCode.BAD_PAYLOAD, `input has ${req.payload.length} bytes, the model needs ${d.width}x${d.height}x${d.channels} = ${need}`);
      return false;
    }
    return true;
  };
  const result = () => ({ classIndex: argmax(d.scores), invokeUs: d.invokeUs, scores: Int8Array.from(d.scores) });
  switch (req.type) {
    case MsgType.HELLO:
      out.push(frameHex(MsgType.INFO, req.seq, encodeInfo(infoOf(d))));
      break;
    case MsgType.PING:
      out.push(frameHex(MsgType.PONG, req.seq, req.payload));
      break;
    case MsgType.INFER:
      if (classify()) out.push(frameHex(MsgType.RESULT, req.seq, encodeResult(result())));
      break;
    case MsgType.DUMP:
      if (!classify()) break;
      if (d.tensors.length === 0) {
        err(ErrorCode.NO_DUMP, 'this firmware cannot expose intermediate tensors');
        break;
      }
      d.tensors.forEach((t, index) => {
        const data = fakeTensorData(t);
        let offset = 0;
        do {
          const chunk = data.subarray(offset, Math.min(data.length, offset + DUMP_CHUNK));
          out.push(frameHex(MsgType.DUMP_TENSOR, req.seq, encodeDumpTensor({ index, count: d.tensors.length, totalLength: data.length, offset, name: t.name, data: chunk })));
          offset += chunk.length;
        } while (offset < data.length);
      });
      out.push(frameHex(MsgType.DUMP_END, req.seq, encodeDumpEnd({ count: d.tensors.length, result: result() })));
      break;
    default:
      err(ErrorCode.UNKNOWN_TYPE, `unknown message type 0x${req.type.toString(16).padStart(2, '0')}`);
  }
  return out;
}

function exchange(name: string, device: string, version: number, type: number, seq: number, payload: Uint8Array) {
  return {
    name,
    device,
    requestHex: frameHex(type, seq, payload, version),
    responsesHex: responsesFor(device, { version, type, seq, payload }),
  };
}

const input48 = bytes(48, (i) => i * 5 - 100);
const exchanges = [
  exchange('hello', 'ok', PROTOCOL_VERSION, MsgType.HELLO, 7, new Uint8Array(0)),
  exchange('hello-not-ready', 'notReady', PROTOCOL_VERSION, MsgType.HELLO, 1, new Uint8Array(0)),
  exchange('infer', 'ok', PROTOCOL_VERSION, MsgType.INFER, 8, input48),
  exchange('infer-wrong-length', 'ok', PROTOCOL_VERSION, MsgType.INFER, 9, bytes(5, (i) => i)),
  exchange('infer-not-ready', 'notReady', PROTOCOL_VERSION, MsgType.INFER, 10, input48),
  exchange('other-version', 'ok', 2, MsgType.HELLO, 11, new Uint8Array(0)),
  exchange('unknown-type', 'ok', PROTOCOL_VERSION, 0x55, 12, new Uint8Array(0)),
  exchange('ping', 'ok', PROTOCOL_VERSION, MsgType.PING, 13, bytes(300, (i) => i)),
  exchange('dump', 'ok', PROTOCOL_VERSION, MsgType.DUMP, 14, input48),
];

const doc = {
  comment:
    'Golden frames of docs/protocol.md, read by firmware/components/sorter_link/test (ctest) and test/serial (vitest). ' +
    'Regenerate with node --import tsx test/vectors/generate-protocol-frames.ts. Hex strings; fake tensors are data[i] = (i*mul + add) mod 256.',
  protocolVersion: PROTOCOL_VERSION,
  maxPayload: MAX_PAYLOAD,
  dumpChunk: DUMP_CHUNK,
  crc32: [
    { asciiInput: '123456789', crc: 0xcbf43926 },
    { asciiInput: '', crc: 0 },
  ],
  frames,
  streams,
  devices,
  exchanges,
};

const here = fileURLToPath(new URL('.', import.meta.url));
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(`${here}protocol-frames.json`, JSON.stringify(doc, null, 1) + '\n');
  console.log(`wrote ${here}protocol-frames.json`);
}
export type { Frame };
