import { hammingHex } from '../../host/data/dedup.ts';
import type { SplitManifest } from '../../host/data/manifest.ts';

/** Every pair of items in different splits that are exact or near duplicates (brute force, all pairs). */
export function crossSplitNearPairs(m: SplitManifest, maxHamming: number): string[] {
  const bad: string[] = [];
  const items = m.items;
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i]!;
      const b = items[j]!;
      if (a.split === b.split) continue;
      if (a.sha256 === b.sha256 || hammingHex(a.phash, b.phash) <= maxHamming) bad.push(`${a.path} ~ ${b.path}`);
    }
  }
  return bad;
}
