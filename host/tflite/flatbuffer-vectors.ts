import type { Builder, Offset } from 'flatbuffers';
import * as S from './schema.ts';

/** Vector writing for tflite/writer.ts: 16-byte aligned buffer data and optionally shared numeric vectors. */

/**
 * Creates numeric vectors, returning the earlier copy's offset for content already written when
 * sharing is on. Keys hold the values as they will be stored (float32 rounding applied), so two
 * vectors share only when their bytes would be identical.
 */
export class VectorWriter {
  private readonly written = new Map<string, Offset>();

  constructor(private readonly share: boolean) {}

  int32(b: Builder, values: readonly number[]): Offset {
    return this.once(b, 'i32', values, values, int32Vector);
  }

  float32(b: Builder, values: readonly number[]): Offset {
    return this.once(b, 'f32', values.map(Math.fround), values, float32Vector);
  }

  int64(b: Builder, values: readonly number[]): Offset {
    return this.once(b, 'i64', values, values, int64Vector);
  }

  private once(
    b: Builder,
    kind: string,
    stored: readonly number[],
    values: readonly number[],
    create: (b: Builder, values: readonly number[]) => Offset,
  ): Offset {
    if (!this.share) return create(b, values);
    // Object.is keeps -0 apart from 0 in float vectors: their bytes differ.
    const key = `${kind}:${stored.map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(',')}`;
    const known = this.written.get(key);
    if (known !== undefined) return known;
    const offset = create(b, values);
    this.written.set(key, offset);
    return offset;
  }
}

/** The Builder's write cursor; `createByteVector` cannot align, so aligned vectors copy in directly. */
interface BuilderInternals {
  space: number;
  bb: { bytes(): Uint8Array; setPosition(p: number): void };
}

export function alignedByteVector(b: Builder, data: Uint8Array): Offset {
  b.startVector(1, data.length, S.BUFFER_ALIGNMENT);
  const inner = b as unknown as BuilderInternals;
  inner.space -= data.length;
  inner.bb.setPosition(inner.space);
  inner.bb.bytes().set(data, inner.space);
  return b.endVector();
}

export function int32Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
  return b.endVector();
}

function float32Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]!);
  return b.endVector();
}

function int64Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(8, values.length, 8);
  for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]!));
  return b.endVector();
}

export function offsetVector(b: Builder, offsets: readonly Offset[]): Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
  return b.endVector();
}
