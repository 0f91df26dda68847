import { describe, expect, it } from 'vitest';
import { createRng } from '../../host/util/rng.ts';
import { areaDownsample, dhashRgb, hamming, nearPairs, thumbDistance, thumbRgb, UnionFind } from '../../host/data/dedup.ts';

function randomHash(rng: () => number, bytes: number): Uint8Array {
  const h = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) h[i] = Math.floor(rng() * 256);
  return h;
}

function flipBits(h: Uint8Array, k: number, rng: () => number): Uint8Array {
  const out = h.slice();
  const used = new Set<number>();
  while (used.size < k) used.add(Math.floor(rng() * h.length * 8));
  for (const b of used) out[b >> 3]! ^= 0x80 >> (b & 7);
  return out;
}

describe('nearPairs (multi-index search)', () => {
  for (const [bytes, maxHamming] of [
    [32, 10],
    [8, 10],
    [8, 3],
    [32, 0],
  ] as const) {
    it(`finds exactly the brute-force pairs (${bytes * 8} bits, ≤ ${maxHamming})`, () => {
      const rng = createRng(bytes * 100 + maxHamming);
      const hashes: Uint8Array[] = [];
      for (let i = 0; i < 300; i++) {
        // Every third hash is a perturbed copy of an earlier one, at distances around the threshold.
        if (i % 3 === 2) hashes.push(flipBits(hashes[Math.floor(rng() * i)]!, Math.floor(rng() * (maxHamming + 4)), rng));
        else hashes.push(randomHash(rng, bytes));
      }
      const brute: Array<[number, number]> = [];
      for (let i = 0; i < hashes.length; i++)
        for (let j = i + 1; j < hashes.length; j++) if (hamming(hashes[i]!, hashes[j]!) <= maxHamming) brute.push([i, j]);
      expect(brute.length).toBeGreaterThan(10);
      expect(nearPairs(hashes, maxHamming)).toEqual(brute);
    });
  }
});

describe('hashes', () => {
  it('areaDownsample averages exactly, including fractional cells', () => {
    // 3×1 image → 2×1: cell 0 = px0 + half px1, cell 1 = half px1 + px2, each over 1.5 pixels.
    const rgb = new Uint8Array([0, 0, 0, 90, 90, 90, 180, 180, 180]);
    const out = areaDownsample(rgb, 3, 1, 2, 1);
    expect(out[0]).toBeCloseTo((0 + 45) / 1.5);
    expect(out[3]).toBeCloseTo((45 + 180) / 1.5);
  });

  it('dHash sets a bit where a cell is clearly brighter than its right neighbour', () => {
    // Brightness falls left to right: every bit set; a flat image: no bit set.
    const w = 34;
    const h = 16;
    const ramp = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) ramp.fill(255 - x * 7, (y * w + x) * 3, (y * w + x) * 3 + 3);
    expect([...dhashRgb(ramp, w, h, 256)].every((b) => b === 255)).toBe(true);
    expect([...dhashRgb(new Uint8Array(w * h * 3).fill(200), w, h, 64)].every((b) => b === 0)).toBe(true);
    expect(dhashRgb(ramp, w, h, 64)).toHaveLength(8);
  });

  it('thumbDistance is the 97th percentile of differences', () => {
    const a = new Uint8Array(100);
    const b = new Uint8Array(100);
    for (let i = 0; i < 100; i++) b[i] = i < 97 ? 2 : 200;
    expect(thumbDistance(a, b)).toBe(200);
    for (let i = 0; i < 100; i++) b[i] = i < 98 ? 2 : 200;
    expect(thumbDistance(a, b)).toBe(2);
    expect(thumbRgb(new Uint8Array(32 * 32 * 3).fill(7), 32, 32)).toEqual(new Uint8Array(16 * 16 * 3).fill(7));
  });

  it('union-find joins transitively', () => {
    const uf = new UnionFind(5);
    uf.union(0, 1);
    uf.union(3, 4);
    uf.union(1, 4);
    expect(uf.find(0)).toBe(uf.find(3));
    expect(uf.find(2)).not.toBe(uf.find(0));
  });
});
