/**
 * `plastisort data report`: exploratory summary of a split manifest, as Markdown plus images, so a
 * reader can see what the model will be trained and tested on before any training happens.
 * The HTML report embeds the same files (paths returned by buildDataReport).
 */
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import type { OverlayOptions } from 'sharp';
import { writeFileAtomic } from '../util/atomic.ts';
import { prepareOutDir } from '../util/out-dir.ts';
import { DATA_REPORT_OUTPUT } from './data-report-output.ts';
import { renderChart } from '../shared/charts.ts';
import { SPLITS, type ManifestItem, type SplitManifest } from './manifest.ts';
import { ALPHA_BACKGROUND, manifestItemPath } from './images.ts';

export interface DataReportPaths {
  /** report.md */
  markdown: string;
  /** contact-sheet.png: random samples per class, one labelled row per class. */
  contactSheet: string;
  /** image-sizes.svg / image-sizes.png: size distribution chart. */
  sizeChartSvg: string;
  sizeChartPng: string;
}

export interface DataReportOptions {
  /** Manifest file path to print in the report (informative). */
  manifestPath?: string;
  /** How to print the data folder (default: manifest.root). */
  rootDisplay?: string;
  /** Samples per class on the contact sheet. */
  samplesPerClass?: number;
  /** Tile side in pixels. */
  tile?: number;
}

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function pct(n: number, d: number): string {
  return d === 0 ? '–' : `${((100 * n) / d).toFixed(1)}%`;
}

/** Seeded, content-based choice of samples: the same manifest gives the same contact sheet. */
export function pickSamples(items: readonly ManifestItem[], n: number, seed: number): ManifestItem[] {
  return items
    .map((it) => ({ it, k: createHash('sha256').update(`${seed}\n${it.sha256}\n${it.path}`).digest('hex') }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .slice(0, n)
    .map((x) => x.it);
}

function labelSvg(text: string, width: number, height: number): Buffer {
  const safe = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect width="${width}" height="${height}" fill="#f2f2f2"/>` +
      `<text x="8" y="${height / 2 + 5}" font-family="DejaVu Sans, sans-serif" font-size="14" fill="#222">${safe}</text></svg>`,
  );
}

/** One item's photo fitted into a `tile`-pixel square on grey, as PNG (a reddish tile if the file is gone). */
export async function manifestTile(manifest: SplitManifest, item: ManifestItem, tile: number): Promise<Buffer> {
  try {
    return await sharp(manifestItemPath(manifest, item))
      .rotate()
      .flatten({ background: ALPHA_BACKGROUND })
      .resize(tile, tile, { fit: 'contain', background: { r: 230, g: 230, b: 230 } })
      .removeAlpha()
      .png()
      .toBuffer();
  } catch {
    // A file gone since the split: a visible grey-red tile rather than a failed report.
    return sharp({ create: { width: tile, height: tile, channels: 3, background: { r: 200, g: 120, b: 120 } } })
      .png()
      .toBuffer();
  }
}

/** Contact sheet: one row per class (label, then samples), deterministic for a manifest. */
export async function renderContactSheet(manifest: SplitManifest, n = 8, tile = 96): Promise<Buffer> {
  const labelW = 170;
  const gap = 4;
  const rowH = tile + gap;
  const width = labelW + n * (tile + gap) + gap;
  const height = manifest.classes.length * rowH + gap;
  const overlays: OverlayOptions[] = [];
  for (const [r, cls] of manifest.classes.entries()) {
    const top = gap + r * rowH;
    const count = manifest.items.filter((i) => i.class === cls).length;
    overlays.push({ input: labelSvg(`${cls} (${count})`, labelW - gap, tile), left: gap, top });
    const samples = pickSamples(
      manifest.items.filter((i) => i.class === cls),
      n,
      manifest.seed,
    );
    const tiles = await Promise.all(samples.map((s) => manifestTile(manifest, s, tile)));
    tiles.forEach((t, i) => overlays.push({ input: t, left: labelW + gap + i * (tile + gap), top }));
  }
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(overlays)
    .png({ compressionLevel: 9 })
    .toBuffer();
}

function sizeChartSpec(manifest: SplitManifest): Record<string, unknown> {
  const values = manifest.items.map((i) => ({
    class: i.class,
    side: Math.max(i.width, i.height),
    aspect: Math.round((i.width / i.height) * 100) / 100,
  }));
  const colour = { field: 'class', type: 'nominal', sort: manifest.classes, title: 'class' };
  const panel = (field: string, title: string) => ({
    width: 300,
    height: 200,
    mark: 'bar',
    encoding: {
      x: { field, type: 'quantitative', bin: { maxbins: 24 }, title },
      y: { aggregate: 'count', type: 'quantitative', title: 'images' },
      color: colour,
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Image sizes per class',
    data: { values },
    hconcat: [panel('side', 'longer side (px)'), panel('aspect', 'aspect ratio (width / height)')],
  };
}

/** The Markdown body; image links are relative to the report folder. */
export function dataReportMarkdown(manifest: SplitManifest, opts: DataReportOptions = {}): string {
  const L: string[] = [];
  const total = manifest.items.length;
  L.push('# Dataset report', '');
  if (opts.manifestPath) L.push(`Manifest: \`${opts.manifestPath}\``, '');
  L.push(
    `Data folder: \`${opts.rootDisplay ?? manifest.root}\` · ${manifest.classes.length} classes · ${total} images · seed ${manifest.seed} · ` +
      `ratios train/val/test ${manifest.ratios.train}/${manifest.ratios.val}/${manifest.ratios.test} · ` +
      `near duplicates: ${manifest.dedup.phashBits}-bit dHash, Hamming ≤ ${manifest.dedup.maxHamming}`,
    '',
  );

  L.push('## Images per class and split', '');
  L.push('| class | train | val | test | total | share |', '|---|---:|---:|---:|---:|---:|');
  const colTotals = { train: 0, val: 0, test: 0 };
  for (const c of manifest.classes) {
    const k = manifest.counts[c] ?? { train: 0, val: 0, test: 0 };
    const t = k.train + k.val + k.test;
    for (const s of SPLITS) colTotals[s] += k[s];
    L.push(`| ${esc(c)} | ${k.train} | ${k.val} | ${k.test} | ${t} | ${pct(t, total)} |`);
  }
  L.push(`| **total** | ${colTotals.train} | ${colTotals.val} | ${colTotals.test} | ${total} | |`, '');
  const counts = manifest.classes.map((c) => manifest.items.filter((i) => i.class === c).length);
  if (counts.length > 0 && Math.min(...counts) > 0) {
    L.push(`Imbalance (largest / smallest class): ${(Math.max(...counts) / Math.min(...counts)).toFixed(2)}×`, '');
  }

  const sources = [...new Set(manifest.items.map((i) => i.source))].sort();
  if (sources.length > 1 || (sources.length === 1 && sources[0] !== '')) {
    L.push('## Images per class and source subfolder', '');
    L.push(`| class | ${sources.map((s) => esc(s || '(top)')).join(' | ')} |`, `|---|${sources.map(() => '---:').join('|')}|`);
    for (const c of manifest.classes) {
      L.push(`| ${esc(c)} | ${sources.map((s) => manifest.items.filter((i) => i.class === c && i.source === s).length).join(' | ')} |`);
    }
    L.push('');
  }

  L.push('## Duplicates and label conflicts', '');
  const groups = new Map<number, ManifestItem[]>();
  for (const it of manifest.items) {
    const g = groups.get(it.group);
    if (g) g.push(it);
    else groups.set(it.group, [it]);
  }
  const multi = [...groups.entries()].filter(([, m]) => m.length > 1).sort((a, b) => b[1].length - a[1].length || a[0] - b[0]);
  const inMulti = multi.reduce((a, [, m]) => a + m.length, 0);
  const exactGroups = multi.filter(([, m]) => new Set(m.map((i) => i.sha256)).size < m.length).length;
  L.push(
    `- ${manifest.duplicateGroups} duplicate groups with more than one member before conflict handling; ` +
      `${multi.length} remain among kept images, holding ${inMulti} images (${pct(inMulti, total)}); ` +
      `${exactGroups} of them contain exact pixel copies. Each group is kept in a single split.`,
  );
  L.push(`- ${manifest.conflicts.length} label conflicts (a duplicate group spanning classes).`, '');
  if (multi.length > 0) {
    L.push('Largest duplicate groups:', '', '| group | size | split | members |', '|---:|---:|---|---|');
    for (const [g, m] of multi.slice(0, 10)) {
      const shown = m.slice(0, 4).map((i) => `\`${esc(i.path)}\``).join(', ');
      L.push(`| ${g} | ${m.length} | ${m[0]!.split} | ${shown}${m.length > 4 ? ` and ${m.length - 4} more` : ''} |`);
    }
    L.push('');
  }
  if (manifest.conflicts.length > 0) {
    L.push('| group | classes | resolution |', '|---:|---|---|');
    for (const c of manifest.conflicts) {
      const cls = Object.entries(c.members)
        .map(([k, v]) => `${esc(k)}: ${v.map((p) => `\`${esc(p)}\``).join(', ')}`)
        .join('; ');
      L.push(`| ${c.group} | ${cls} | ${c.resolution === 'majority' ? `kept as ${esc(c.keptClass ?? '?')}` : 'dropped'} |`);
    }
    L.push('');
  }

  L.push('## Skipped files', '');
  if (manifest.dropped.length === 0) L.push('None.', '');
  else {
    L.push(`${manifest.dropped.length} files are not in the split:`, '', '| file | reason |', '|---|---|');
    for (const d of manifest.dropped.slice(0, 100)) L.push(`| \`${esc(d.path)}\` | ${esc(d.reason)} |`);
    if (manifest.dropped.length > 100) L.push(`| … | and ${manifest.dropped.length - 100} more (see the manifest's \`dropped\`) |`);
    L.push('');
  }

  L.push('## Image sizes', '', '![Longer side and aspect ratio per class](image-sizes.svg)', '');
  L.push('| class | width min / median / max | height min / median / max | not square |', '|---|---|---|---:|');
  for (const c of manifest.classes) {
    const its = manifest.items.filter((i) => i.class === c);
    const w = its.map((i) => i.width);
    const h = its.map((i) => i.height);
    const f = (xs: number[]) => (xs.length ? `${Math.min(...xs)} / ${median(xs)} / ${Math.max(...xs)}` : '–');
    L.push(`| ${esc(c)} | ${f(w)} | ${f(h)} | ${its.filter((i) => i.width !== i.height).length} |`);
  }
  L.push('');
  L.push('## Samples', '', 'Random samples per class (fixed by the manifest seed):', '', '![Contact sheet](contact-sheet.png)', '');
  return L.join('\n');
}

/**
 * Writes `report.md`, `contact-sheet.png`, `image-sizes.svg` and `image-sizes.png` into `outDir`
 * (each atomically) and returns their paths.
 */
export async function buildDataReport(manifest: SplitManifest, outDir: string, opts: DataReportOptions = {}): Promise<DataReportPaths> {
  const paths: DataReportPaths = {
    markdown: join(outDir, 'report.md'),
    contactSheet: join(outDir, 'contact-sheet.png'),
    sizeChartSvg: join(outDir, 'image-sizes.svg'),
    sizeChartPng: join(outDir, 'image-sizes.png'),
  };
  await prepareOutDir(outDir, { ...DATA_REPORT_OUTPUT, inputs: [manifest.root, opts.manifestPath] });
  const chart = await renderChart(sizeChartSpec(manifest), { idPrefix: 'datasizes' });
  await writeFileAtomic(paths.sizeChartSvg, chart.svg);
  await writeFileAtomic(paths.sizeChartPng, await chart.png());
  await writeFileAtomic(paths.contactSheet, await renderContactSheet(manifest, opts.samplesPerClass ?? 8, opts.tile ?? 96));
  const manifestPath = opts.manifestPath ? relative(outDir, opts.manifestPath).split('\\').join('/') : undefined;
  const rootDisplay = relative(outDir, manifest.root).split('\\').join('/') || '.';
  await writeFileAtomic(paths.markdown, dataReportMarkdown(manifest, { ...opts, manifestPath, rootDisplay }));
  return paths;
}
