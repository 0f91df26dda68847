/**
 * Duplicate detection for the split: decoded-pixel SHA-256 for exact copies and a difference hash
 * (dHash) for near copies (re-encodings, small resizes, slight crops or colour shifts), grouped with
 * union-find so that a group can be kept in one split.
 *
 * The dHash is computed here in plain TypeScript from the decoded RGB pixels (box-filter downscale to
 * (w+1)×w luma, one bit per horizontal neighbour pair with a small dead zone), not by a library resize, so its bits do not
 * depend on the libvips version.
 */

/**
 * A cell must be brighter than its right neighbour by more than this (luma × 1000, so 4000 = 4 grey
 * levels) to set its bit. Without it, flat areas (studio white, sky) set bits from compression noise
 * alone: on plastic6 a JPEG quality-40 re-encode moved up to 40 of 256 bits; with it, at most 5.
 */
export const DHASH_DEAD_ZONE = 4000;

/** Bits of a dHash: 64 (8×8) or 256 (16×16). */
export type PhashBits = 64 | 256;

export function dhashSide(bits: PhashBits): number {
  return bits === 64 ? 8 : 16;
}

/**
 * Difference hash of an RGB888 (HWC) image: downscale to (side+1)×side by exact area averaging,
 * then bit = left > right + deadZone for each horizontal pair, row-major, packed MSB-first into bytes.
 */
export function dhashRgb(rgb: Uint8Array, width: number, height: number, bits: PhashBits, deadZone = DHASH_DEAD_ZONE): Uint8Array {
  const side = dhashSide(bits);
  const gw = side + 1;
  const small = areaDownsample(rgb, width, height, gw, side);
  const out = new Uint8Array(bits / 8);
  let k = 0;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++, k++) {
      const a = (j * gw + i) * 3;
      const b = a + 3;
      const left = 299 * small[a]! + 587 * small[a + 1]! + 114 * small[a + 2]!;
      const right = 299 * small[b]! + 587 * small[b + 1]! + 114 * small[b + 2]!;
      if (left > right + deadZone) out[k >> 3]! |= 0x80 >> (k & 7);
    }
  }
  return out;
}

/** Overlap of pixel [p, p+1) with the interval [a, b). */
function overlap(p: number, a: number, b: number): number {
  return Math.max(0, Math.min(p + 1, b) - Math.max(p, a));
}

/**
 * Exact area-average downscale of an RGB888 image to `ow × oh` (float RGB, HWC): each output cell
 * averages the source area it covers, with fractional weights for pixels on its border, so a copy
 * resized by a few percent lands on the same cells (integer cell bounds would shift them).
 */
export function areaDownsample(rgb: Uint8Array, width: number, height: number, ow: number, oh: number): Float64Array {
  const sx = width / ow;
  const sy = height / oh;
  // Horizontal pass: every source row to ow cells.
  const rows = new Float64Array(height * ow * 3);
  for (let i = 0; i < ow; i++) {
    const a = i * sx;
    const b = (i + 1) * sx;
    const p0 = Math.floor(a);
    const p1 = Math.min(width - 1, Math.ceil(b) - 1);
    for (let p = p0; p <= p1; p++) {
      const w = overlap(p, a, b) / sx;
      if (w <= 0) continue;
      for (let y = 0; y < height; y++) {
        const src = (y * width + p) * 3;
        const dst = (y * ow + i) * 3;
        rows[dst] += w * rgb[src]!;
        rows[dst + 1] += w * rgb[src + 1]!;
        rows[dst + 2] += w * rgb[src + 2]!;
      }
    }
  }
  const out = new Float64Array(oh * ow * 3);
  for (let j = 0; j < oh; j++) {
    const a = j * sy;
    const b = (j + 1) * sy;
    const p0 = Math.floor(a);
    const p1 = Math.min(height - 1, Math.ceil(b) - 1);
    for (let p = p0; p <= p1; p++) {
      const w = overlap(p, a, b) / sy;
      if (w <= 0) continue;
      const src = p * ow * 3;
      const dst = j * ow * 3;
      for (let k = 0; k < ow * 3; k++) out[dst + k] += w * rows[src + k]!;
    }
  }
  return out;
}

/** Side of the colour thumbnail used to confirm a near-duplicate candidate. */
export const THUMB_SIDE = 16;

/**
 * Confirmation threshold: a dHash candidate pair is a near duplicate only if the 97th percentile of
 * the absolute differences between their 16×16 RGB thumbnails is at most this (0–255). Re-encodes and
 * resizes of plastic6 photos stay at or under 8 (JPEG q40: 4, 50% resize: 5, webp: 3, squash to 256²: 8), the
 * two true near-copies in plastic6 at 1 and 3; different products on the same white studio background,
 * which the dHash alone confuses because their flat backgrounds agree, measured 15 to 188.
 */
export const THUMB_P97_MAX = 12;

/** Area-averaged `side × side` RGB thumbnail (HWC bytes) of an RGB888 image. */
export function thumbRgb(rgb: Uint8Array, width: number, height: number, side = THUMB_SIDE): Uint8Array {
  const small = areaDownsample(rgb, width, height, side, side);
  const out = new Uint8Array(small.length);
  for (let i = 0; i < small.length; i++) out[i] = Math.round(small[i]!);
  return out;
}

/** 97th percentile of the absolute per-value differences of two thumbnails. */
export function thumbDistance(a: Uint8Array, b: Uint8Array): number {
  const hist = new Uint32Array(256);
  for (let i = 0; i < a.length; i++) hist[Math.abs(a[i]! - b[i]!)]!++;
  const rank = Math.floor(a.length * 0.97);
  let seen = 0;
  for (let d = 0; d < 256; d++) {
    seen += hist[d]!;
    if (seen > rank) return d;
  }
  return 255;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

const POP8 = new Uint8Array(256);
for (let i = 1; i < 256; i++) POP8[i] = (i & 1) + POP8[i >> 1]!;

export function hamming(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += POP8[a[i]! ^ b[i]!]!;
  return d;
}

export class UnionFind {
  private readonly parent: Int32Array;
  private readonly rank: Uint8Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    this.rank = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(i: number): number {
    let r = i;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[i] !== r) {
      const next = this.parent[i]!;
      this.parent[i] = r;
      i = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if (this.rank[ra]! < this.rank[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    if (this.rank[ra] === this.rank[rb]) this.rank[ra]!++;
  }
}

function getBit(h: Uint8Array, k: number): number {
  return (h[k >> 3]! >> (7 - (k & 7))) & 1;
}

/**
 * Every pair (i < j) with hamming(hashes[i], hashes[j]) ≤ maxHamming, found by multi-index hashing:
 * split the bits into maxHamming + 1 blocks; by the pigeonhole principle two hashes within the
 * threshold agree exactly on at least one block, so only items sharing a block value are compared.
 * Exact (no pair is missed) and far below O(n²) for natural photos. Pairs come out sorted.
 */
export function nearPairs(hashes: readonly Uint8Array[], maxHamming: number): Array<[number, number]> {
  const n = hashes.length;
  if (n < 2) return [];
  const bits = hashes[0]!.length * 8;
  const blocks = Math.min(bits, Math.max(1, maxHamming + 1));
  const bounds: number[] = [];
  for (let b = 0; b <= blocks; b++) bounds.push(Math.floor((b * bits) / blocks));
  const seen = new Set<number>();
  const pairs: Array<[number, number]> = [];
  for (let b = 0; b < blocks; b++) {
    const buckets = new Map<string | number, number[]>();
    const from = bounds[b]!;
    const to = bounds[b + 1]!;
    for (let i = 0; i < n; i++) {
      const h = hashes[i]!;
      // Block value as a number when it fits in 30 bits (the usual case), else as a string of chunks.
      let key: string | number;
      if (to - from <= 30) {
        let acc = 0;
        for (let k = from; k < to; k++) acc = acc * 2 + getBit(h, k);
        key = acc;
      } else {
        let text = '';
        let acc = 0;
        let accBits = 0;
        for (let k = from; k < to; k++) {
          acc = acc * 2 + getBit(h, k);
          if (++accBits === 30) {
            text += acc.toString(36) + '.';
            acc = 0;
            accBits = 0;
          }
        }
        key = text + acc.toString(36);
      }
      let list = buckets.get(key);
      if (!list) buckets.set(key, (list = []));
      list.push(i);
    }
    for (const list of buckets.values()) {
      for (let x = 0; x < list.length; x++) {
        for (let y = x + 1; y < list.length; y++) {
          const i = list[x]!;
          const j = list[y]!;
          const id = i * n + j;
          if (seen.has(id)) continue;
          seen.add(id);
          if (hamming(hashes[i]!, hashes[j]!) <= maxHamming) pairs.push([i, j]);
        }
      }
    }
  }
  pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  return pairs;
}
