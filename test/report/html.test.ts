import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildHtmlReport, renderHtmlReport } from '../../host/report/html.ts';
import type { ReportInput } from '../../host/report/report-input.ts';
import { makeReportInput } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const OUT = resolve(import.meta.dirname, '../../test-output');
let dir: string;
let input: ReportInput;
let file: string;
let html: string;

// The full report is rendered once (buildHtmlReport → test-output/report.html) and shared by the tests.
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-report-'));
  input = await makeReportInput(dir, { fallback: true });
  mkdirSync(OUT, { recursive: true });
  file = join(OUT, 'report.html');
  await buildHtmlReport(input, file);
  html = readFileSync(file, 'utf8');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** <svg> charts inside <figure class="chart"> in the HTML text. */
const chartCount = (html: string) => (html.match(/<figure class="chart[^"]*"><svg/g) ?? []).length;

describe('renderHtmlReport (static checks)', () => {
  it('is one self-contained document: no external URL, no script, images as data URIs', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="(?!data:|#)/);
    expect(html).not.toMatch(/url\((?!#)/);
    expect(html).toMatch(/<img alt="contact sheet[^"]*" src="data:image\/png;base64,/);
    // the primary (fine-tuned) evaluation's misclassified images, and only that one's
    expect(html.match(/<img alt="misclassified images of [^"]*"/g)).toEqual(['<img alt="misclassified images of fine-tuned"']);
    // 1 dataset + 1 training + 1 F1 + 4 confusion + 2 fidelity + 1 ops + 1 latency
    expect(chartCount(html)).toBe(11);
    // every SVG id is unique across the page
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('warns prominently about the nsfwjs fallback, and not for ImageNet weights', async () => {
    expect(html).toMatch(/<div class="alert" role="alert"><strong>Backbone: nsfwjs fallback/);
    const clean = await renderHtmlReport({ backbone: { kind: 'tfjs-layers', source: 'imagenet/tfjs' } });
    expect(clean).not.toContain('class="alert"');
    expect(clean).toContain('<strong>Backbone:</strong> tfjs-layers');
  });

  it('says where the weights came from: the download URL and checks, or why the fallback was taken and the fix', async () => {
    const url = 'https://example.invalid/keras/mobilenet_v2.h5';
    const fetched = await renderHtmlReport({
      backbone: {
        kind: 'h5', source: '/c/plastisort/backbones/m.h5', sha256: 'cd'.repeat(32),
        origin: { via: 'cache', url, fetchedAt: '2026-01-01T00:00:00Z', checks: { structure: 'passed: all', knownImage: 'skipped: absent' } },
      },
    });
    expect(fetched).toContain(`from the user cache (downloaded earlier by plastisort) · source URL <code>${url}</code> (fetched 2026-01-01T00:00:00Z)`);
    expect(fetched).toContain('known-image check skipped: absent');
    const fell = await renderHtmlReport({ backbone: { kind: 'nsfwjs', source: 'nsfwjs', fallback: true, origin: { via: 'fallback', reason: 'download failed: HTTP 404' } } });
    expect(fell).toContain('why: download failed: HTTP 404');
    expect(fell).toContain('run <code>plastisort backbone fetch</code> once');
  });

  it('shows the paper-style table of the fine-tuned model and the simulator agreement', () => {
    const ft = input.evaluations!.find((x) => x.label === 'fine-tuned')!.metrics;
    expect(html).toContain('Per-class results: fine-tuned (test split)');
    expect(html).toContain(`<td><b>macro avg</b></td><td>${ft.macro.precision.toFixed(2)}</td>`);
    expect(html).toContain('Simulator vs LiteRT: top-1 agreement <b>99.53%</b>');
    expect(html).toContain("matched the simulator's <b>double</b>");
  });

  it('renders with only some sections, and the same input gives the same bytes', async () => {
    const partial: ReportInput = { title: 'partial', evaluations: input.evaluations!.slice(0, 1) };
    const html = await renderHtmlReport(partial);
    expect(chartCount(html)).toBe(1);
    expect(html).not.toContain('id="hil"');
    expect(html).not.toContain('id="dataset"');
    expect(await renderHtmlReport(partial)).toBe(html);
    const empty = await renderHtmlReport({});
    expect(chartCount(empty)).toBe(0);
  });
});

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`SKIPPED report rendering in headless Chromium: ${CHROMIUM} is absent (apt-get install chromium)`);

describe.skipIf(!haveChromium)('HTML report in headless Chromium', () => {
  let context: BrowserContext | undefined;
  let profile: string;
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('renders offline with no console errors or failed requests, all figures present; screenshot saved', async () => {
    profile = mkdtempSync(join(tmpdir(), 'plastisort-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      offline: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    const external: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) external.push(r.url());
    });
    const response = await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    expect(response?.ok() ?? true).toBe(true);

    const charts = page.locator('figure.chart > svg');
    expect(await charts.count()).toBe(chartCount(html));
    // every chart has a laid-out size and drawn marks
    const sizes = await charts.evaluateAll((els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        return { w: r.width, h: r.height, marks: el.querySelectorAll('[role="graphics-symbol"], .mark-rect path, .mark-line path').length };
      }),
    );
    for (const s of sizes) {
      expect(s.w).toBeGreaterThan(100);
      expect(s.h).toBeGreaterThan(50);
      expect(s.marks).toBeGreaterThan(0);
    }
    const imgs = await page.locator('img').evaluateAll((els) => els.map((el) => (el as unknown as { naturalWidth: number }).naturalWidth));
    // the contact sheet (632 px wide) and the fine-tuned model's misclassified images (136 px), both decoded
    expect(imgs).toEqual([632, 136]);
    await expect(page.locator('.alert').isVisible()).resolves.toBe(true);
    const headings = await page.locator('section > h2').allTextContents();
    expect(headings).toEqual([
      'Summary',
      'Dataset',
      'Training',
      'Evaluation',
      'Fidelity: float → int8 → device',
      'Model: int8 .tflite',
      'Hardware in the loop (simulator)',
      'Notes',
    ]);

    const shot = join(OUT, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const meta = await sharp(shot).metadata();
    expect(meta.width).toBe(1280);
    expect(meta.height).toBeGreaterThan(2000);

    expect(problems).toEqual([]);
    expect(external).toEqual([]);
  }, 90_000);
});
