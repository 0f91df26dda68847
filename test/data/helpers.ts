import { fromHex, hamming, thumbDistance, THUMB_P97_MAX } from '../../host/data/dedup.ts';
import { fingerprintImage } from '../../host/data/fingerprint.ts';
import type { ManifestItem, SplitManifest } from '../../host/data/manifest.ts';

/**
 * Every pair of items in different splits that the split's own duplicate rule calls duplicates:
 * equal pixel SHA-256, or dHash within maxHamming confirmed by the thumbnail check. All pairs are
 * compared (brute force, independent of the multi-index search); thumbnails are recomputed from the
 * files for the few dHash candidates.
 */
export async function crossSplitDuplicates(m: SplitManifest): Promise<{ leaks: string[]; candidates: number }> {
  const leaks: string[] = [];
  const candidates: Array<[ManifestItem, ManifestItem]> = [];
  const items = m.items;
  const hashes = items.map((it) => fromHex(it.phash));
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i]!;
      const b = items[j]!;
      if (a.split === b.split) continue;
      if (a.sha256 === b.sha256) leaks.push(`${a.path} == ${b.path}`);
      else if (hamming(hashes[i]!, hashes[j]!) <= m.dedup.maxHamming) candidates.push([a, b]);
    }
  }
  const bits = m.dedup.phashBits as 64 | 256;
  for (const [a, b] of candidates) {
    const fa = await fingerprintImage(m.root, a.path, bits);
    const fb = await fingerprintImage(m.root, b.path, bits);
    if (!fa.ok || !fb.ok) throw new Error(`cannot re-read ${a.path} or ${b.path}`);
    if (thumbDistance(fa.thumb, fb.thumb) <= THUMB_P97_MAX) leaks.push(`${a.path} ~ ${b.path}`);
  }
  return { leaks, candidates: candidates.length };
}
