// Benchmark: `data split` over plastic6 (1,438 photos) — wall time, CPU time, images/s, peak RSS —
// plus synthetic-data generation throughput. Writes bench/results/data-split.json.
// Run: npm run bench -- data-split   (the machine may be shared: load average is recorded too)
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { splitDataset } from '../host/data/split.ts';
import { writeManifest } from '../host/data/manifest-io.ts';
import { generateSynthDataset } from '../host/data/synth.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';

const DATA = '/work/shared/datasets/plastic6/images';
const OUT = resolve(import.meta.dirname, 'results', 'data-split.json');

if (!existsSync(DATA)) {
  console.error(`data-split bench: ${DATA} is absent; nothing measured`);
  process.exit(0);
}
const tmp = await mkdtemp(join(tmpdir(), 'plastisort-bench-split-'));
try {
  const load = loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { manifest } = await splitDataset({ data: DATA, seed: 1, progress: false });
  await writeManifest(join(tmp, 'split.json'), manifest);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const files = manifest.items.length + manifest.dropped.length;

  const s0 = performance.now();
  const synth = await generateSynthDataset({ out: join(tmp, 'synth'), perClass: 100, size: 160, seed: 1, progress: false });
  const synthWall = (performance.now() - s0) / 1000;

  const result = {
    benchmark: 'data-split',
    command: 'npm run bench -- data-split',
    date: new Date().toISOString(),
    cpus: cpus().length,
    node: process.version,
    loadAverage1mAtStart: load,
    split: {
      data: 'plastic6 (/work/shared/datasets/plastic6/images)',
      files,
      kept: manifest.items.length,
      duplicateGroups: manifest.duplicateGroups,
      conflicts: manifest.conflicts.length,
      wallSeconds: wall,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: files / wall,
      targetWallSeconds: 30,
      meetsTarget: wall < 30,
    },
    synth: {
      images: synth.files,
      size: synth.size,
      wallSeconds: synthWall,
      imagesPerMinute: (synth.files / synthWall) * 60,
    },
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  await writeJsonAtomic(OUT, result);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await rm(tmp, { recursive: true, force: true });
}
