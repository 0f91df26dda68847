import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const host = join(root, 'host');

/**
 * host/ folders from the bottom up; a folder may import its own row and rows below it, never a row
 * above. The stages follow the data (docs/artifacts.md): photos -> split manifest (data) -> trained run
 * (train) -> evaluated (eval) -> .tflite (quantize) -> C arrays (export) -> device (flash, hil) ->
 * report; pipeline drives them all and cli only parses arguments. Below every stage: util (no domain),
 * then the pieces several stages share (metrics, predictor type, charts), the .tflite format and the
 * device link (link).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['shared', 'tflite', 'link'],
  ['data'],
  ['train'],
  ['eval'],
  ['quantize'],
  ['export'],
  ['flash'],
  ['hil'],
  ['report'],
  ['pipeline'],
  ['cli'],
];

const rank = new Map(LAYERS.flatMap((row, i) => row.map((f) => [f, i] as const)));

/** The host/ folder a file or import target belongs to ('' when it is outside host/). */
function folderOf(absPath: string): string {
  const rel = relative(host, absPath);
  return rel.startsWith('..') || !rel.includes('/') ? '' : rel.split('/')[0]!;
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
const specifiers = (src: string) => [...src.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)].map((m) => m[1]!);

/** "file -> target" for every import that goes up the stage order or out of an unplaced folder. */
function upwardImports(files: { path: string; source: string }[]): string[] {
  const bad: string[] = [];
  for (const f of files) {
    const from = folderOf(f.path);
    const fromRank = rank.get(from);
    if (fromRank === undefined) {
      bad.push(`${relative(root, f.path)}: host/${from}/ is not placed in LAYERS`);
      continue;
    }
    for (const s of specifiers(f.source)) {
      const to = folderOf(resolve(dirname(f.path), s));
      const toRank = rank.get(to);
      if (to !== '' && to !== from && (toRank === undefined || toRank > fromRank)) bad.push(`${relative(root, f.path)} -> ${s}`);
    }
  }
  return bad;
}

function hostSources(): { path: string; source: string }[] {
  return readdirSync(host, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name) && e.parentPath !== host)
    .map((e) => join(e.parentPath, e.name))
    .map((path) => ({ path, source: readFileSync(path, 'utf8') }));
}

describe('host/ dependencies flow down the stage order', () => {
  it('no folder imports a later stage', () => {
    expect(upwardImports(hostSources())).toEqual([]);
  });

  it('catches an upward import, a dynamic one, and a folder nobody placed', () => {
    const at = (p: string) => join(host, p);
    expect(
      upwardImports([
        { path: at('train/trainer.ts'), source: "import { computeMetrics } from '../eval/evaluate.ts';" },
        { path: at('data/data-report.ts'), source: "const m = await import('../report/html.ts');" },
        { path: at('eval/plots.ts'), source: "import { renderChart } from '../shared/charts.ts';\nimport { x } from './markdown.ts';" },
        { path: at('newstage/a.ts'), source: '' },
      ]),
    ).toEqual([
      'host/train/trainer.ts -> ../eval/evaluate.ts',
      'host/data/data-report.ts -> ../report/html.ts',
      'host/newstage/a.ts: host/newstage/ is not placed in LAYERS',
    ]);
  });
});
