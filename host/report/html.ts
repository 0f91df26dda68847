/**
 * The run report: ONE self-contained HTML file (inline CSS and SVG, images as data URIs, no script,
 * no external request) that opens offline. Every section is optional so the pipeline can pass what
 * exists so far; figures are Vega-Lite charts rendered in Node (charts.ts).
 *
 * The input types are structural: a SplitManifest, a run's history.json, EvalMetrics, the
 * `inspect` report of a .tflite and the HIL report can be passed as they are.
 */
import { writeFileAtomic } from '../util/atomic.ts';
import { e, section } from './html-parts.ts';
import type { ReportInput } from './report-input.ts';
import { backboneBlock, datasetBlock, evaluationBlock, fidelityBlock, hilBlock, modelBlock, summaryBlock, trainingBlock } from './report-sections.ts';

const CSS = `
:root{--fg:#1d232b;--muted:#5b6673;--line:#d8dee6;--accent:#2f6db3;--bg:#fff}
*{box-sizing:border-box}
body{font:15px/1.5 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg);margin:0}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
header h1{font-size:26px;margin:0 0 4px}
header p{margin:0;color:var(--muted)}
nav{margin:14px 0 6px;font-size:14px}
nav a{color:var(--accent);margin-right:14px;text-decoration:none}
section{margin-top:34px;border-top:1px solid var(--line);padding-top:10px}
h2{font-size:20px;margin:6px 0 12px}
h3{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;font-size:13.5px;margin:4px 18px 12px 0;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #9aa6b2;font-weight:600}
table.kv td:first-child{color:var(--muted)}
table.kv td{text-align:left}
table.kv thead{display:none}
table.pairs td:nth-child(2),table.pairs th:nth-child(2){text-align:left}
table.summary td:nth-child(4) b{font-size:15px}
.row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px 18px}
.figures{display:flex;flex-wrap:wrap;gap:14px 26px;align-items:flex-start}
figure{margin:6px 0}
figure.chart svg{display:block;max-width:100%;height:auto}
figure.wide{flex-basis:100%}
figure.image img{max-width:100%;border:1px solid var(--line)}
figcaption{font-size:12.5px;color:var(--muted);margin-top:4px;max-width:640px}
.alert{background:#fdecea;border:2px solid #c62828;color:#7f1d1d;padding:12px 16px;border-radius:6px;margin:16px 0;font-size:15px}
.notice{background:#eef4fb;border:1px solid #b7cde8;padding:8px 14px;border-radius:6px;margin:16px 0}
.facts{margin:4px 0 10px;padding-left:20px}
p.side{max-width:380px;color:var(--muted);font-size:13.5px}
code{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:#f3f5f8;padding:0 3px;border-radius:3px}
small{color:var(--muted)}
footer{margin-top:40px;color:var(--muted);font-size:12.5px}
@media print{section{break-inside:avoid}}
`;

/** The report as an HTML string. */
export async function renderHtmlReport(input: ReportInput): Promise<string> {
  const title = input.title ?? 'plastisort report';
  const parts: string[] = [];
  parts.push(backboneBlock(input.backbone));
  parts.push(summaryBlock(input));
  if (input.dataset) parts.push(await datasetBlock(input.dataset));
  if (input.training) parts.push(await trainingBlock(input.training));
  parts.push(await evaluationBlock(input));
  parts.push(await fidelityBlock(input));
  if (input.model) parts.push(await modelBlock(input.model));
  if (input.hil) parts.push(await hilBlock(input));
  if (input.notes?.length) parts.push(section('notes', 'Notes', `<ul>${input.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>`));
  const body = parts.filter(Boolean).join('\n');
  const nav = [...body.matchAll(/<section id="([^"]+)">\s*<h2>([^<]+)<\/h2>/g)]
    .map((m) => `<a href="#${m[1]}">${m[2]}</a>`)
    .join('');
  const sub = [input.subtitle ? e(input.subtitle) : '', input.generatedAt ? `generated ${e(input.generatedAt)}` : '']
    .filter(Boolean)
    .join(' · ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${e(title)}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<main>
<header><h1>${e(title)}</h1>${sub ? `<p>${sub}</p>` : ''}</header>
<nav>${nav}</nav>
${body}
<footer>Self-contained report written by plastisort; charts rendered with Vega-Lite. Opens offline.</footer>
</main>
</body>
</html>
`;
}

/** Writes the report atomically to `outFile`. */
export async function buildHtmlReport(input: ReportInput, outFile: string): Promise<void> {
  await writeFileAtomic(outFile, await renderHtmlReport(input));
}
