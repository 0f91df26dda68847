import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { splitDataset } from '../../host/data/split.ts';
import { SPLITS } from '../../host/data/manifest.ts';
import { crossSplitDuplicates } from './helpers.ts';

const DATA = '/work/shared/datasets/plastic6/images';
const present = existsSync(DATA);
if (!present) console.warn(`SKIPPED test/data/plastic6.test.ts: ${DATA} is absent (real-data split integration test)`);

describe.skipIf(!present)('data split on plastic6 (real photos)', () => {
  it('has six classes, every split populated, and no exact or near-duplicate group across splits', async () => {
    const { manifest: m, emptyClasses } = await splitDataset({ data: DATA, seed: 1, progress: false });
    expect(emptyClasses).toEqual([]);
    expect(m.classes).toHaveLength(6);
    expect(m.classes).toEqual([...m.classes].sort());
    for (const c of m.classes) for (const s of SPLITS) expect(m.counts[c]![s]).toBeGreaterThan(0);
    // A group lives in one split.
    const splitOfGroup = new Map<number, string>();
    for (const it of m.items) {
      const s = splitOfGroup.get(it.group);
      if (s !== undefined) expect(it.split).toBe(s);
      splitOfGroup.set(it.group, it.split);
    }
    // Independently, no pair across splits is a duplicate by pixel hash or by confirmed dHash.
    const { leaks } = await crossSplitDuplicates(m);
    expect(leaks).toEqual([]);
    expect(m.items.length + m.dropped.length).toBe(1438);
  });
});
