/**
 * Charts: a Vega-Lite spec rendered to SVG in Node (headless vega View, no canvas) and to PNG with
 * sharp. Used by data/data-report.ts, eval/plots.ts and report/html.ts, so every figure in the project comes from the same
 * charting library rather than hand-drawn SVG.
 */
import { createHash } from 'node:crypto';
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import sharp from 'sharp';

/** A Vega-Lite top-level spec as a plain object (kept loose: callers build specs as literals). */
export type VegaLiteSpec = Record<string, unknown>;

export interface RenderedChart {
  /** Standalone SVG document. Element ids are prefixed per chart so several can be inlined in one page. */
  svg: string;
  /** PNG of the same chart; `scale` multiplies the pixel density (default 2 for crisp text). */
  png(scale?: number): Promise<Buffer>;
}

export interface RenderOptions {
  /** Prefix for element ids inside the SVG; default: derived from the spec's content hash. */
  idPrefix?: string;
}

/**
 * Font stack: DejaVu Sans is what Debian's fonts-dejavu-core provides and what librsvg (inside sharp)
 * resolves through fontconfig; browsers fall back to their sans-serif.
 */
export const CHART_FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const BASE_CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

function mergeConfig(spec: VegaLiteSpec): VegaLiteSpec {
  const own = (spec.config ?? {}) as Record<string, unknown>;
  return { ...spec, config: { ...BASE_CONFIG, ...own } };
}

/**
 * Vega numbers clip paths and gradients with process-wide counters, so the same spec rendered twice
 * gives different ids, and two charts inlined in one HTML page could clash. Renumber every id in
 * order of appearance under a per-chart prefix.
 */
function normaliseIds(svg: string, prefix: string): string {
  const ids: string[] = [];
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.includes(m[1]!)) ids.push(m[1]!);
  if (ids.length === 0) return svg;
  const rename = new Map(ids.map((id, i) => [id, `${prefix}-${i}`]));
  const escaped = ids.map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).sort((a, b) => b.length - a.length);
  const re = new RegExp(`(\\sid="|url\\(#|href="#)(${escaped.join('|')})(?=[")])`, 'g');
  return svg.replace(re, (_m, lead: string, id: string) => `${lead}${rename.get(id)}`);
}

export async function renderChart(spec: VegaLiteSpec, opts: RenderOptions = {}): Promise<RenderedChart> {
  const full = mergeConfig(spec);
  // Loaded on first use: vega is a large share of every command's start-up, and most never draw.
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  let compiled: Vega.Spec;
  try {
    compiled = vegaLite.compile(full as unknown as VegaLite.TopLevelSpec).spec as Vega.Spec;
  } catch (e) {
    throw new Error(`vega-lite could not compile the chart spec: ${(e as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Warn });
  let raw: string;
  try {
    raw = await view.toSVG();
  } finally {
    view.finalize();
  }
  const prefix =
    opts.idPrefix ?? 'c' + createHash('sha256').update(JSON.stringify(full)).digest('hex').slice(0, 10);
  const svg = normaliseIds(raw, prefix);
  return {
    svg,
    async png(scale = 2): Promise<Buffer> {
      return sharp(Buffer.from(svg), { density: 72 * scale })
        .flatten({ background: '#ffffff' })
        .png({ compressionLevel: 9 })
        .toBuffer();
    },
  };
}
