import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

const importsOf = (file: string) => [...readFileSync(join(root, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);

describe('test doubles stay out of production code', () => {
  it('host/ imports nothing from testing/ or test/, and bench/ nothing from test/', () => {
    const bad: string[] = [];
    for (const f of sources('host')) for (const i of importsOf(f)) if (/(^|\/)(testing|test)\//.test(i)) bad.push(`${f} -> ${i}`);
    for (const f of sources('bench')) for (const i of importsOf(f)) if (/(^|\/)test\//.test(i)) bad.push(`${f} -> ${i}`);
    expect(bad).toEqual([]);
  });
});
