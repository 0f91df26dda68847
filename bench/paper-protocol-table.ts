/**
 * Writes the paper-protocol figures into the docs from the bench's JSON, so the tables never drift from
 * what was measured: the per-seed table of docs/training.md (between `<!--pp-table-start-->` and
 * `<!--pp-table-end-->`) and the README's one-line summary (between `<!--pp-summary-start-->` and
 * `<!--pp-summary-end-->`).
 *
 *   node --import tsx bench/paper-protocol-table.ts [bench/results/paper-protocol-plastic6.json]
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const file = resolve(process.argv[2] ?? join(root, 'bench/results/paper-protocol-plastic6.json'));

interface Figures {
  accuracy: number;
  macroF1: number;
  accuracyCI: [number, number];
  bestEpoch?: number;
  trainAccuracyLastEpoch?: number;
  trainImagesPerSecond?: number;
  trainImagesPerCpuSecond?: number;
  valAccuracy?: number;
}
interface Seed {
  seed: number;
  baseline: Figures;
  probe: Figures;
  finetune: Figures;
  finetuneMinusProbe: { accuracyPp: number; macroF1Pp: number };
  int8?: { accuracy: number; accuracyDropPp: number; method: string; valAgreement?: number };
  protocolSeconds: number;
}
interface Interval {
  mean: number;
  ci95: [number, number];
}
const data = JSON.parse(readFileSync(file, 'utf8')) as {
  command: string;
  machine: { loadAverage1mAtEnd?: number };
  settings: { finetune: Record<string, unknown> };
  seeds: Seed[];
  summary: { paired: Record<string, Interval> & { finetuneAboveProbeOnEverySeed: boolean } };
};
const seeds = data.seeds.filter((s) => s.finetune);
if (seeds.length === 0) throw new Error(`${file} holds no seed with a fine-tuned result`);
const p = data.summary.paired;

const pct = (x: number) => (100 * x).toFixed(1);
const f3 = (x: number) => x.toFixed(3);
const pp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;
const ci = (i: Interval, f: (x: number) => string) => `${f(i.mean)} (95% CI ${f(i.ci95[0])} … ${f(i.ci95[1])})`;
const ppOf = (x: number) => pp(100 * x);
const row = (label: string, cells: string[], mean = '') => `| ${label} | ${cells.join(' | ')} | ${mean} |`;

const int8Seeds = seeds.filter((s) => s.int8);
const drops = int8Seeds.map((s) => s.int8!.accuracyDropPp);
const lines = [
  `| split seed | ${seeds.map((s) => s.seed).join(' | ')} | mean (95% t-interval over seeds) |`,
  `|---|${seeds.map(() => '---|').join('')}---|`,
  row('baseline accuracy %', seeds.map((s) => pct(s.baseline.accuracy)), ci(p.baselineAccuracy!, pct)),
  row('linear probe accuracy %', seeds.map((s) => pct(s.probe.accuracy)), ci(p.probeAccuracy!, pct)),
  row('**fine-tuned accuracy %**', seeds.map((s) => pct(s.finetune.accuracy)), ci(p.finetuneAccuracy!, pct)),
  row('baseline macro F1', seeds.map((s) => f3(s.baseline.macroF1)), ci(p.baselineMacroF1!, f3)),
  row('linear probe macro F1', seeds.map((s) => f3(s.probe.macroF1)), ci(p.probeMacroF1!, f3)),
  row('**fine-tuned macro F1**', seeds.map((s) => f3(s.finetune.macroF1)), ci(p.finetuneMacroF1!, f3)),
  row('**fine-tuned − probe, accuracy (pp)**', seeds.map((s) => pp(s.finetuneMinusProbe.accuracyPp)), `**${ci(p.finetuneMinusProbeAccuracy!, ppOf)}**`),
  row('**fine-tuned − probe, macro F1 (pp)**', seeds.map((s) => pp(s.finetuneMinusProbe.macroF1Pp)), `**${ci(p.finetuneMinusProbeMacroF1!, ppOf)}**`),
  row('fine-tuned test accuracy, bootstrap 95%', seeds.map((s) => `${pct(s.finetune.accuracyCI[0])}–${pct(s.finetune.accuracyCI[1])}`)),
  row('fine-tuned validation accuracy % (restored epoch)', seeds.map((s) => (s.finetune.valAccuracy !== undefined ? pct(s.finetune.valAccuracy) : '–'))),
  row('int8 (LiteRT) accuracy % / drop pp', seeds.map((s) => (s.int8 ? `${pct(s.int8.accuracy)} / ${pp(s.int8.accuracyDropPp)}` : 'not run'))),
  row('int8 method / val agreement with float %', seeds.map((s) => (s.int8 ? `${s.int8.method} / ${s.int8.valAgreement !== undefined ? pct(s.int8.valAgreement) : '–'}` : 'not run'))),
  row('best epoch / train acc. last epoch %', seeds.map((s) => `${s.finetune.bestEpoch} / ${pct(s.finetune.trainAccuracyLastEpoch ?? 0)}`)),
  row('fine-tuning img/s (wall / per CPU-s)', seeds.map((s) => `${(s.finetune.trainImagesPerSecond ?? 0).toFixed(1)} / ${(s.finetune.trainImagesPerCpuSecond ?? 0).toFixed(1)}`)),
  row('whole seed, min', seeds.map((s) => (s.protocolSeconds / 60).toFixed(1))),
];

const minutes = seeds.map((s) => s.protocolSeconds / 60);
const aboveEvery = p.finetuneAboveProbeOnEverySeed;
const below = seeds.filter((s) => s.finetuneMinusProbe.accuracyPp <= 0).map((s) => s.seed);
const met = p.finetuneMinusProbeAccuracy!.mean >= 0.03 && p.finetuneMinusProbeMacroF1!.mean >= 0.03 && aboveEvery;
// "Within 0.5 pp of float": either way, since an int8 model that is right where the float one is wrong
// still disagrees with what was validated.
const int8Met = int8Seeds.length === seeds.length && drops.every((d) => Math.abs(d) <= 0.5);
const fmtCi = (i: Interval, f: (x: number) => string, unit: string) => `${f(i.mean)}${unit} (95% CI ${f(i.ci95[0])}…${f(i.ci95[1])})`;
const summary =
  `${seeds.length} split seeds (${seeds.map((s) => s.seed).join('/')}), each paired with the plain linear probe on the same split: ` +
  `fine-tuned ${fmtCi(p.finetuneAccuracy!, pct, '%')} (macro F1 ${f3(p.finetuneMacroF1!.mean)}), probe ${pct(p.probeAccuracy!.mean)}% (F1 ${f3(p.probeMacroF1!.mean)}), ` +
  `baseline ${pct(p.baselineAccuracy!.mean)}% (F1 ${f3(p.baselineMacroF1!.mean)}); ` +
  `**fine-tuned − probe ${fmtCi(p.finetuneMinusProbeAccuracy!, ppOf, ' pp')} accuracy, ${fmtCi(p.finetuneMinusProbeMacroF1!, ppOf, ' pp')} macro F1**: ` +
  `target + 3 pp ${met ? 'met' : 'not met'}${below.length ? `, not above the probe on seed${below.length > 1 ? 's' : ''} ${below.join(', ')}` : ', above the probe on every seed'}; ` +
  (int8Seeds.length
    ? `int8 drop (float − int8, LiteRT, bias correction): ${int8Seeds.map((s) => pp(s.int8!.accuracyDropPp)).join(' / ')} pp, so within 0.5 pp of float ${int8Met ? 'on every seed' : 'not on every seed'}; `
    : 'int8 not run; ') +
  `${Math.min(...minutes).toFixed(1)}–${Math.max(...minutes).toFixed(1)} min per seed (target ≤ 15; load average ${data.machine.loadAverage1mAtEnd ?? '?'} at the end). ` +
  `Table: [docs/training.md](docs/training.md); source \`${relative(root, file)}\`.`;

function replaceBetween(path: string, tag: string, body: string): void {
  const text = readFileSync(path, 'utf8');
  const start = `<!--${tag}-start-->`;
  const end = `<!--${tag}-end-->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${path}: markers ${start} … ${end} not found; put them where the figures belong`);
  const inline = !text.slice(a, b).includes('\n');
  const next = text.slice(0, a + start.length) + (inline ? body : `\n${body}\n`) + text.slice(b);
  if (next !== text) {
    writeFileSync(`${path}.tmp`, next);
    // Rename over the original so a crash never leaves half a document.
    renameSync(`${path}.tmp`, path);
  }
  console.log(`${relative(root, path)}: ${tag} ${next === text ? 'unchanged' : 'updated'}`);
}

replaceBetween(join(root, 'docs/training.md'), 'pp-table', lines.join('\n'));
replaceBetween(join(root, 'README.md'), 'pp-summary', summary);
