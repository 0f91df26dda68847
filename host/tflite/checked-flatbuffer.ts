import { UserError } from '../util/errors.ts';

/**
 * Bounds-checked flatbuffer access for reading untrusted .tflite bytes (tflite/reader.ts): every
 * offset, length and index is checked before use.
 */

const utf8 = new TextDecoder('utf-8');

/** A table position with its validated vtable. */
export interface TableRef {
  pos: number;
  vtable: number;
  vtableSize: number;
  objectSize: number;
  what: string;
}

export class CheckedFlatbuffer {
  readonly view: DataView;
  /**
   * Elements decoded so far. Flatbuffers may share sub-objects, so a small file can reference one big
   * vector many times; this budget keeps a hostile file from expanding into gigabytes.
   */
  private decoded = 0;
  private readonly budget: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = 4 * bytes.length + 100_000;
  }

  notTflite(why: string): never {
    throw new UserError(`${this.source}: not a TFLite file (${why}); pass a .tflite model`);
  }

  truncated(what: string, at: number): never {
    throw new UserError(
      `${this.source}: truncated at byte ${at} while reading ${what} (file has ${this.bytes.length} bytes); the file is damaged or incomplete, re-create or re-download it`,
    );
  }

  private need(pos: number, size: number, what: string): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + size > this.bytes.length) this.truncated(what, pos);
  }

  private spend(n: number, what: string): void {
    this.decoded += n;
    if (this.decoded > this.budget) {
      throw new UserError(
        `${this.source}: corrupt TFLite file (${what} references more data than the file holds); re-create the file`,
      );
    }
  }

  u8(pos: number, what: string): number {
    this.need(pos, 1, what);
    return this.view.getUint8(pos);
  }
  i8(pos: number, what: string): number {
    this.need(pos, 1, what);
    return this.view.getInt8(pos);
  }
  u16(pos: number, what: string): number {
    this.need(pos, 2, what);
    return this.view.getUint16(pos, true);
  }
  i32(pos: number, what: string): number {
    this.need(pos, 4, what);
    return this.view.getInt32(pos, true);
  }
  u32(pos: number, what: string): number {
    this.need(pos, 4, what);
    return this.view.getUint32(pos, true);
  }
  f32(pos: number, what: string): number {
    this.need(pos, 4, what);
    return this.view.getFloat32(pos, true);
  }
  i64(pos: number, what: string): number {
    this.need(pos, 8, what);
    // Two 32-bit halves: exact for |v| < 2^53 and far cheaper than BigInt for per-channel vectors.
    return this.view.getInt32(pos + 4, true) * 2 ** 32 + this.view.getUint32(pos, true);
  }
  u64(pos: number, what: string): number {
    this.need(pos, 8, what);
    return Number(this.view.getBigUint64(pos, true));
  }

  /** Follows a uoffset stored at `pos` (relative to `pos`). */
  deref(pos: number, what: string): number {
    const target = pos + this.u32(pos, what);
    this.need(target, 4, what);
    return target;
  }

  table(pos: number, what: string): TableRef {
    this.need(pos, 4, what);
    const vtable = pos - this.i32(pos, what);
    this.need(vtable, 4, `${what} vtable`);
    const vtableSize = this.u16(vtable, `${what} vtable`);
    const objectSize = this.u16(vtable + 2, `${what} vtable`);
    if (vtableSize < 4 || vtableSize % 2 !== 0) this.notTflite(`${what} has a malformed vtable`);
    this.need(vtable, vtableSize, `${what} vtable`);
    if (objectSize < 4) this.notTflite(`${what} has a malformed table size`);
    this.need(pos, objectSize, what);
    this.spend(1, what);
    return { pos, vtable, vtableSize, objectSize, what };
  }

  /** Absolute position of field `id`, or 0 when absent. */
  field(t: TableRef, id: number, width: number): number {
    const slot = 4 + 2 * id;
    if (slot + 2 > t.vtableSize) return 0;
    const rel = this.u16(t.vtable + slot, `${t.what} vtable`);
    if (rel === 0) return 0;
    if (rel + width > t.objectSize) this.notTflite(`${t.what} field ${id} lies outside its table`);
    return t.pos + rel;
  }

  scalarU8(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 1);
    return p ? this.u8(p, t.what) : dflt;
  }
  scalarI8(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 1);
    return p ? this.i8(p, t.what) : dflt;
  }
  scalarI32(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 4);
    return p ? this.i32(p, t.what) : dflt;
  }
  scalarU32(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 4);
    return p ? this.u32(p, t.what) : dflt;
  }
  scalarF32(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 4);
    return p ? this.f32(p, t.what) : dflt;
  }
  scalarU64(t: TableRef, id: number, dflt: number): number {
    const p = this.field(t, id, 8);
    return p ? this.u64(p, t.what) : dflt;
  }
  has(t: TableRef, id: number): boolean {
    return this.field(t, id, 1) !== 0;
  }

  /** Position of the first element and the element count of the vector in field `id`, or undefined. */
  vector(t: TableRef, id: number, elemSize: number, what: string): { start: number; length: number } | undefined {
    const p = this.field(t, id, 4);
    if (!p) return undefined;
    const vec = this.deref(p, what);
    const length = this.u32(vec, what);
    const start = vec + 4;
    if (length * elemSize > this.bytes.length - start) this.truncated(`${what} (${length} elements)`, start);
    this.spend(length, what);
    return { start, length };
  }

  string(t: TableRef, id: number, what: string): string | undefined {
    const v = this.vector(t, id, 1, what);
    if (!v) return undefined;
    return utf8.decode(this.bytes.subarray(v.start, v.start + v.length));
  }

  bytesOf(t: TableRef, id: number, what: string): Uint8Array | undefined {
    const v = this.vector(t, id, 1, what);
    if (!v) return undefined;
    return this.bytes.slice(v.start, v.start + v.length);
  }

  private numbers(t: TableRef, id: number, width: number, read: (at: number, what: string) => number, what: string): number[] {
    const v = this.vector(t, id, width, what);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = read(v.start + width * i, what);
    return out;
  }
  i32s(t: TableRef, id: number, what: string): number[] {
    return this.numbers(t, id, 4, (at, w) => this.i32(at, w), what);
  }
  f32s(t: TableRef, id: number, what: string): number[] {
    return this.numbers(t, id, 4, (at, w) => this.f32(at, w), what);
  }
  i64s(t: TableRef, id: number, what: string): number[] {
    return this.numbers(t, id, 8, (at, w) => this.i64(at, w), what);
  }

  tables(t: TableRef, id: number, what: string): TableRef[] {
    const v = this.vector(t, id, 4, what);
    if (!v) return [];
    const out: TableRef[] = [];
    for (let i = 0; i < v.length; i++) {
      const elem = v.start + 4 * i;
      out.push(this.table(this.deref(elem, `${what}[${i}]`), `${what}[${i}]`));
    }
    return out;
  }

  subtable(t: TableRef, id: number, what: string): TableRef | undefined {
    const p = this.field(t, id, 4);
    if (!p) return undefined;
    return this.table(this.deref(p, what), what);
  }
}
