import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OutGuard } from '../util/out-dir.ts';

/** A bundle folder: marked, or (before markers) holding a bundle manifest.json. */
export const BUNDLE_OUTPUT: OutGuard = {
  command: 'bundle',
  legacy: (dir) => {
    try {
      return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { schema?: unknown }).schema === 'plastisort.bundle/1';
    } catch {
      return false;
    }
  },
};
