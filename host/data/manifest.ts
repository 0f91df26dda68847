/**
 * The split manifest: the contract between the data stage and every later stage.
 * Written by `plastisort data split`, read by train, quantize (calibration), evaluate and HIL.
 */

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

export interface ManifestItem {
  /** Path relative to `SplitManifest.root`, with forward slashes. */
  path: string;
  /** SHA-256 (hex) of the decoded RGB pixels with the width and height: identical for re-encodings. */
  sha256: string;
  /** SHA-256 (hex) of the file bytes as stored, to detect files changed after the split. */
  fileSha256: string;
  /** Perceptual (difference) hash, hex. */
  phash: string;
  width: number;
  height: number;
  class: string;
  /** Index into SplitManifest.classes. */
  label: number;
  split: SplitName;
  /** Subfolder under the class folder that the file came from ('' when none), e.g. 'default' or 'real_world'. */
  source: string;
  /** Duplicate group id: every item of a group of exact or near duplicates shares it, and its split. */
  group: number;
}

export interface DroppedFile {
  path: string;
  reason: string;
}

export interface LabelConflict {
  group: number;
  /** Class name → paths in that class. */
  members: Record<string, string[]>;
  resolution: 'dropped' | 'majority';
  keptClass?: string;
}

export interface SplitManifest {
  schema: 'plastisort.split-manifest/1';
  /**
   * The data folder the items are relative to. In the file it is stored relative to the manifest's
   * own folder (forward slashes), so the same data and seed give the same bytes on any machine; in
   * memory — after `readManifest` (host/data/manifest-io.ts) or as built by `splitDataset` — it is
   * absolute. Read manifests with `readManifest` and resolve items with `manifestItemPath`.
   */
  root: string;
  classes: string[];
  seed: number;
  ratios: { train: number; val: number; test: number };
  dedup: { phashBits: number; maxHamming: number };
  items: ManifestItem[];
  counts: Record<string, Record<SplitName, number>>;
  dropped: DroppedFile[];
  conflicts: LabelConflict[];
  /** Number of duplicate groups with more than one member. */
  duplicateGroups: number;
}
