/**
 * Duplicate detection for the split: decoded-pixel SHA-256 for exact copies and a difference hash
 * (dHash) for near copies (re-encodings, small resizes, slight crops or colour shifts), grouped with
 * union-find so that a group can be kept in one split.
 *
 * The dHash is computed here in plain TypeScript from the decoded RGB pixels (box-filter downscale to
 * (w+1)×w luma, one bit per horizontal neighbour pair), not by a library resize, so its bits do not
 * depend on the libvips version.
 */

/** Bits of a dHash: 64 (8×8) or 256 (16×16). */
export type PhashBits = 64 | 256;

export function dhashSide(bits: PhashBits): number {
  return bits === 64 ? 8 : 16;
}

/**
 * Difference hash of an RGB888 (HWC) image: downscale the luma to (side+1)×side by area averaging,
 * then bit = left > right for each horizontal pair, row-major, packed MSB-first into bytes.
 */
export function dhashRgb(rgb: Uint8Array, width: number, height: number, bits: PhashBits): Uint8Array {
  const side = dhashSide(bits);
  const gw = side + 1;
  const gh = side;
  const grid = new Float64Array(gw * gh);
  // Column and row ranges of each cell: integer bounds so every cell covers at least one pixel.
  const xs = new Int32Array(gw + 1);
  const ys = new Int32Array(gh + 1);
  for (let i = 0; i <= gw; i++) xs[i] = Math.floor((i * width) / gw);
  for (let j = 0; j <= gh; j++) ys[j] = Math.floor((j * height) / gh);
  for (let j = 0; j < gh; j++) {
    const y0 = ys[j]!;
    const y1 = Math.max(ys[j + 1]!, y0 + 1);
    for (let i = 0; i < gw; i++) {
      const x0 = xs[i]!;
      const x1 = Math.max(xs[i + 1]!, x0 + 1);
      let sum = 0;
      for (let y = y0; y < y1 && y < height; y++) {
        let o = (y * width + x0) * 3;
        for (let x = x0; x < x1 && x < width; x++, o += 3) {
          sum += 299 * rgb[o]! + 587 * rgb[o + 1]! + 114 * rgb[o + 2]!;
        }
      }
      grid[j * gw + i] = sum / ((Math.min(y1, height) - y0) * (Math.min(x1, width) - x0));
    }
  }
  const out = new Uint8Array(bits / 8);
  let k = 0;
  for (let j = 0; j < gh; j++) {
    for (let i = 0; i < side; i++, k++) {
      if (grid[j * gw + i]! > grid[j * gw + i + 1]!) out[k >> 3]! |= 0x80 >> (k & 7);
    }
  }
  return out;
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

export function hammingHex(a: string, b: string): number {
  return hamming(fromHex(a), fromHex(b));
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
    const buckets = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      let key = '';
      const h = hashes[i]!;
      // Block keys as strings of 0/1 in chunks of up to 30 bits, so any block width works.
      let acc = 0;
      let accBits = 0;
      for (let k = bounds[b]!; k < bounds[b + 1]!; k++) {
        acc = (acc << 1) | getBit(h, k);
        if (++accBits === 30) {
          key += acc.toString(36) + '.';
          acc = 0;
          accBits = 0;
        }
      }
      key += acc.toString(36);
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
