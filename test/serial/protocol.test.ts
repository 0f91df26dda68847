import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  FrameDecoder,
  MAX_PAYLOAD,
  DUMP_CHUNK,
  MsgType,
  PROTOCOL_VERSION,
  encodeFrame,
  type DecodeEvent,
} from '../../host/link/protocol.ts';
import { crc32 } from '../../host/util/crc32.ts';
import {
  decodeDumpEnd,
  decodeDumpTensor,
  decodeError,
  decodeInfo,
  decodeResult,
  encodeDumpEnd,
  encodeDumpTensor,
  encodeError,
  encodeInfo,
  encodeResult,
  fromHex,
  toHex,
  PayloadError,
} from '../../host/link/messages.ts';
import { createRng } from '../../host/util/rng.ts';

interface Vectors {
  protocolVersion: number;
  maxPayload: number;
  dumpChunk: number;
  crc32: { asciiInput: string; crc: number }[];
  frames: { name: string; version: number; type: number; seq: number; payloadHex: string; encodedHex: string }[];
  streams: {
    name: string;
    segments: ({ hex: string } | { fill: number; count: number })[];
    events: ({ error: string } | { frame: { version: number; type: number; seq: number; payloadHex: string } })[];
  }[];
  devices: Record<string, { scores: number[]; labels: string[]; modelSha256: string; tensors: { name: string; length: number; mul: number; add: number }[] }>;
  exchanges: { name: string; device: string; requestHex: string; responsesHex: string[] }[];
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/protocol-frames.json', import.meta.url), 'utf8')) as Vectors;

function simplify(evs: DecodeEvent[]) {
  return evs.map((e) =>
    e.kind === 'error'
      ? { error: e.error }
      : { frame: { version: e.frame.version, type: e.frame.type, seq: e.frame.seq, payloadHex: toHex(e.frame.payload) } },
  );
}

/** A seeded generator so a failing case reproduces. */
function rng(seed: number): () => number {
  const r = createRng(seed);
  return () => Math.floor(r() * 4294967296);
}

describe('golden vectors (shared with the C++ ctest)', () => {
  it('constants agree', () => {
    expect(vectors.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(vectors.maxPayload).toBe(MAX_PAYLOAD);
    expect(vectors.dumpChunk).toBe(DUMP_CHUNK);
  });

  it('CRC-32 check values', () => {
    for (const c of vectors.crc32) expect(crc32(new TextEncoder().encode(c.asciiInput))).toBe(c.crc);
  });

  for (const f of vectors.frames) {
    it(`frame ${f.name}: encodes to the golden bytes and decodes back`, () => {
      const payload = fromHex(f.payloadHex);
      expect(toHex(encodeFrame(f.type, f.seq, payload, f.version))).toBe(f.encodedHex);
      const evs = new FrameDecoder().push(fromHex('00' + f.encodedHex));
      expect(simplify(evs)).toEqual([{ frame: { version: f.version, type: f.type, seq: f.seq, payloadHex: f.payloadHex } }]);
    });
  }

  for (const s of vectors.streams) {
    it(`stream ${s.name}: rejections and resynchronisation`, () => {
      const parts = s.segments.map((seg) => ('hex' in seg ? fromHex(seg.hex) : new Uint8Array(seg.count).fill(seg.fill)));
      // Whole stream at once and byte by byte must agree.
      const whole = simplify(new FrameDecoder().push(Buffer.concat(parts)));
      expect(whole).toEqual(s.events);
      const dec = new FrameDecoder();
      const bytewise: DecodeEvent[] = [];
      for (const p of parts) for (const b of p) bytewise.push(...dec.push(Uint8Array.of(b)));
      expect(simplify(bytewise)).toEqual(s.events);
    });
  }

  for (const x of vectors.exchanges) {
    it(`exchange ${x.name}: every response decodes and re-encodes to the same bytes`, () => {
      const dev = vectors.devices[x.device]!;
      const dec = new FrameDecoder();
      const req = dec.push(fromHex(x.requestHex));
      expect(req).toHaveLength(1);
      const seq = (req[0] as { frame: { seq: number } }).frame.seq;
      for (const hex of x.responsesHex) {
        const evs = dec.push(fromHex(hex));
        expect(evs).toHaveLength(1);
        const ev = evs[0]!;
        if (ev.kind !== 'frame') throw new Error('expected a frame');
        const f = ev.frame;
        expect(f.seq).toBe(seq);
        let again: Uint8Array;
        switch (f.type) {
          case MsgType.INFO: {
            const m = decodeInfo(f.payload);
            expect(m.modelSha256).toBe(dev.modelSha256);
            expect(m.labels).toEqual(dev.labels);
            again = encodeInfo(m);
            break;
          }
          case MsgType.RESULT: {
            const m = decodeResult(f.payload);
            expect(Array.from(m.scores)).toEqual(dev.scores);
            expect(m.classIndex).toBe(dev.scores.indexOf(Math.max(...dev.scores)));
            again = encodeResult(m);
            break;
          }
          case MsgType.ERROR: {
            const m = decodeError(f.payload);
            expect(m.text.length).toBeGreaterThan(0);
            again = encodeError(m);
            break;
          }
          case MsgType.DUMP_TENSOR: {
            const m = decodeDumpTensor(f.payload);
            const t = dev.tensors[m.index]!;
            expect(m.name).toBe(t.name);
            expect(m.totalLength).toBe(t.length);
            const want = Int8Array.from({ length: m.data.length }, (_, i) => ((((m.offset + i) * t.mul + t.add) & 0xff) << 24) >> 24);
            expect(Buffer.compare(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), Buffer.from(want.buffer))).toBe(0);
            again = encodeDumpTensor(m);
            break;
          }
          case MsgType.DUMP_END: {
            const m = decodeDumpEnd(f.payload);
            expect(m.count).toBe(dev.tensors.length);
            again = encodeDumpEnd(m);
            break;
          }
          default:
            again = f.payload;
        }
        expect(toHex(encodeFrame(f.type, f.seq, again, f.version))).toBe(hex);
      }
    });
  }
});

describe('codec', () => {
  it('round-trips payloads of every COBS block boundary size up to the maximum', () => {
    const r = rng(7);
    const dec = new FrameDecoder();
    for (const n of [0, 1, 253, 254, 255, 508, 509, 150_528, MAX_PAYLOAD]) {
      const p = new Uint8Array(n).map(() => (r() % 5 === 0 ? 0 : r() & 0xff));
      const f = encodeFrame(MsgType.INFER, n & 0xffff, p);
      expect(f.indexOf(0)).toBe(f.length - 1);
      const evs = dec.push(f);
      expect(evs).toHaveLength(1);
      expect(evs[0]!.kind === 'frame' && Buffer.compare(evs[0]!.frame.payload, p) === 0).toBe(true);
    }
  });

  it('rejects a payload one byte over the maximum and keeps the next frame', () => {
    const dec = new FrameDecoder();
    const evs = dec.push(Buffer.concat([encodeFrame(MsgType.INFER, 1, new Uint8Array(MAX_PAYLOAD + 1).fill(3)), encodeFrame(MsgType.PING, 2, Uint8Array.of(1))]));
    expect(simplify(evs)).toEqual([{ error: 'oversized' }, { frame: { version: 1, type: MsgType.PING, seq: 2, payloadHex: '01' } }]);
  });

  it('rejects every single-bit flip and every truncation without losing the following frame', () => {
    const r = rng(99);
    const p = new Uint8Array(600).map(() => r() & 0xff);
    const f = encodeFrame(MsgType.INFER, 99, p);
    const next = encodeFrame(MsgType.PING, 100, p.subarray(0, 16));
    const dec = new FrameDecoder();
    let acceptedCorrupt = 0;
    let lostNext = 0;
    const check = (s: Uint8Array) => {
      const evs = dec.push(s);
      acceptedCorrupt += evs.filter((e) => e.kind === 'frame' && e.frame.seq === 99).length;
      const last = evs.at(-1);
      if (!last || last.kind !== 'frame' || last.frame.seq !== 100) lostNext++;
    };
    for (let i = 0; i < f.length - 1; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = f.slice();
        c[i]! ^= 1 << bit;
        check(Buffer.concat([c, next]));
      }
    }
    for (let cut = 1; cut < f.length - 1; cut++) check(Buffer.concat([f.subarray(0, cut), Uint8Array.of(0), next]));
    expect(acceptedCorrupt).toBe(0);
    expect(lostNext).toBe(0);
  });

  it('recovers the frames between random garbage bursts', () => {
    const r = rng(3);
    const dec = new FrameDecoder();
    const got: number[] = [];
    for (let k = 0; k < 200; k++) {
      const garbage = new Uint8Array(r() % 40).map(() => r() & 0xff);
      // Garbage is terminated by the sender's leading delimiter, as docs/protocol.md asks.
      const stream = Buffer.concat([garbage, Uint8Array.of(0), encodeFrame(MsgType.PING, k, Uint8Array.of(k & 0xff, 0, 1))]);
      // Split at a random point to exercise chunk boundaries.
      const cut = r() % stream.length;
      for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
        for (const e of dec.push(part)) if (e.kind === 'frame') got.push(e.frame.seq);
      }
    }
    expect(got).toEqual(Array.from({ length: 200 }, (_, k) => k));
  });

  it('refuses truncated and padded message payloads', () => {
    const res = encodeResult({ classIndex: 1, invokeUs: 5, scores: Int8Array.of(1, 2, 3) });
    expect(() => decodeResult(res.subarray(0, res.length - 1))).toThrow(PayloadError);
    expect(() => decodeResult(Buffer.concat([res, Uint8Array.of(0)]))).toThrow(PayloadError);
    expect(decodeResult(res).scores).toEqual(Int8Array.of(1, 2, 3));
  });
});
