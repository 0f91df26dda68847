/** Small HTML building blocks of the run report: escaping, number formats, tables, figures, images. */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { renderChart, type VegaLiteSpec } from '../shared/charts.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
export const e = escapeHtml;
export const pct = (v: number | undefined | null, digits = 1) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)}%`);
export const num = (v: number | undefined, digits = 3) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB (${n.toLocaleString('en-US')} B)`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB (${n.toLocaleString('en-US')} B)`;
  return `${n} B`;
}

export function table(header: string[], rows: string[][], cls = ''): string {
  const th = header.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export interface Figure {
  spec: VegaLiteSpec;
  caption: string;
  wide?: boolean;
}

export async function figures(figs: Figure[]): Promise<string> {
  const out: string[] = [];
  for (const f of figs) {
    // ids inside each SVG are prefixed with a hash of its spec, so inlined charts cannot clash
    const chart = await renderChart(f.spec);
    out.push(
      `<figure class="chart${f.wide ? ' wide' : ''}">${chart.svg}<figcaption>${e(f.caption)}</figcaption></figure>`,
    );
  }
  return `<div class="figures">${out.join('\n')}</div>`;
}

export async function imageDataUri(path: string, maxWidth = 1400): Promise<string> {
  const raw = await readFile(path);
  const meta = await sharp(raw).metadata();
  if ((meta.width ?? 0) > maxWidth || (meta.format !== 'png' && meta.format !== 'jpeg')) {
    const png = await sharp(raw).resize({ width: Math.min(maxWidth, meta.width ?? maxWidth) }).png().toBuffer();
    return `data:image/png;base64,${png.toString('base64')}`;
  }
  return `data:image/${meta.format};base64,${raw.toString('base64')}`;
}

export function section(id: string, title: string, body: string): string {
  return `<section id="${id}">\n<h2>${e(title)}</h2>\n${body}\n</section>`;
}
