import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { renderChart } from '../../host/shared/charts.ts';

const bars = {
  width: 120,
  height: 80,
  data: { values: [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'c', v: 3 }] },
  mark: 'bar',
  encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative' } },
};

function countMarks(svg: string, kind: string): number {
  const m = svg.match(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 's'));
  return m ? (m[1]!.match(/<path /g) ?? []).length : 0;
}

describe('renderChart', () => {
  it('renders one bar mark per datum into standalone SVG', async () => {
    const r = await renderChart(bars);
    expect(r.svg.startsWith('<svg')).toBe(true);
    expect(r.svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(countMarks(r.svg, 'rect')).toBe(3);
    expect(r.svg).toContain('aria-label="k: c; v: 3"');
  });

  it('is deterministic, and prefixes ids so charts can share a page', async () => {
    // a layered, clipped chart makes vega emit clip-path ids from its global counter
    const clipped = { ...bars, mark: { type: 'bar', clip: true }, encoding: { ...bars.encoding, y: { ...bars.encoding.y, scale: { domain: [0, 2] } } } };
    const a = await renderChart(clipped);
    const b = await renderChart(clipped);
    expect(a.svg).toBe(b.svg);
    const ids = [...a.svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    const c = await renderChart(clipped, { idPrefix: 'other' });
    expect(c.svg).toContain('id="other-0"');
    expect(c.svg).toContain('url(#other-0)');
    expect(c.svg).not.toContain(`id="${ids[0]}"`);
  });

  it('PNG has the chart size at the requested density and the text is drawn', async () => {
    const r = await renderChart(bars);
    const width = Number(r.svg.match(/<svg[^>]*width="(\d+(?:\.\d+)?)"/)![1]);
    const png = await r.png(2);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(Math.round(width * 2));

    // Text alone on white: if no font resolved, the image would stay blank.
    const text = await renderChart({
      width: 200,
      height: 40,
      data: { values: [{ t: 'PLASTIC' }] },
      mark: { type: 'text', fontSize: 24 },
      encoding: { text: { field: 't' } },
    });
    const { data, info } = await sharp(await text.png(1)).greyscale().raw().toBuffer({ resolveWithObject: true });
    let dark = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(100);
  });

  it('reports an invalid spec', async () => {
    await expect(renderChart({ mark: 'nonsense-mark' })).rejects.toThrow();
  });
});
