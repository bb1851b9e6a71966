/**
 * The bench's report: the verdict table as Markdown (terminal, README) and one self-contained
 * HTML file with the machine, the verdicts, the charts (inline SVG) and the raw figures.
 */
import { formatNumber, summary, type VerdictRow } from './verdicts.js';

const VERDICT: Record<VerdictRow['status'], string> = { met: 'met', missed: 'missed', reported: 'reported', 'not measured': 'not measured' };

function cells(r: VerdictRow): string[] {
  const v = (x: number | undefined) => (x === undefined ? '' : `${formatNumber(x)} ${r.unit}`);
  const baseline = r.baselineWhat ? (r.baseline === undefined ? r.baselineWhat : `${r.baselineWhat}: ${v(r.baseline)}`) : '—';
  return [r.what, v(r.value), baseline, r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`, r.target, VERDICT[r.status], r.note ?? ''];
}

const HEAD = ['what', 'natns', 'baseline (same run)', 'ratio', 'target', 'verdict', 'note'];

/** A Markdown table padded into columns, so it reads as well in a terminal as rendered. */
export function markdownTable(rows: VerdictRow[]): string {
  const body = rows.map((r) => cells(r).map((c) => c.replace(/\|/g, '\\|')));
  const width = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(width[i]!)).join(' | ')} |`;
  return [line(HEAD), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n';
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `code` spans of the Markdown labels as <code>, everything else escaped. */
function inline(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function htmlTable(rows: VerdictRow[]): string {
  const tr = (r: VerdictRow) => `<tr class="${r.status.replace(' ', '-')}">${cells(r).map((c, i) => `<td${i === 5 ? ' class="verdict"' : ''}>${inline(c)}</td>`).join('')}</tr>`;
  return `<table><thead><tr>${HEAD.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>\n${rows.map(tr).join('\n')}\n</tbody></table>`;
}

export interface ReportInput {
  date: string;
  quick: boolean;
  machine: Record<string, unknown>;
  settings: Record<string, string>;
  verdicts: VerdictRow[];
  further: VerdictRow[];
  charts: { title: string; svg: string; files: string[] }[];
  failures: string[];
  json: unknown;
}

export function htmlReport(r: ReportInput): string {
  const dl = (o: Record<string, unknown>) => Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`).join('');
  const run = r.quick ? 'quick run (BENCH_QUICK=1): fewer and shorter rounds, for trying the bench out; the README quotes the full run' : 'full run';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>natns bench ${escapeHtml(r.date)}</title>
<style>
body { font-family: 'DejaVu Sans', Verdana, Helvetica, sans-serif; margin: 2em; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td:nth-child(2), td:nth-child(4) { text-align: right; white-space: nowrap; }
tr.met .verdict { color: #1a7f37; font-weight: bold; }
tr.missed .verdict { color: #cf222e; font-weight: bold; }
tr.not-measured td { color: #777; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
figure { margin: 1.5em 0; }
.failures { color: #cf222e; }
</style></head><body>
<h1>natns bench, ${escapeHtml(r.date)}</h1>
<p>${escapeHtml(run)}. Every figure is a median, and every baseline was measured in the same run, alternating with natns.</p>
<p><strong>${escapeHtml(summary(r.verdicts))}.</strong></p>
${r.failures.length ? `<p class="failures">Parts that failed: ${r.failures.map(escapeHtml).join('; ')}</p>` : ''}
<h2>Verdicts</h2>
${htmlTable(r.verdicts)}
<h2>Charts</h2>
${r.charts.map((c) => `<figure>${c.svg.replace(/^<\?xml[^>]*>\s*/, '')}<figcaption>${escapeHtml(c.title)}: ${c.files.map((f) => `<a href="${escapeHtml(f)}">${escapeHtml(f)}</a>`).join(', ')}</figcaption></figure>`).join('\n')}
${r.further.length ? `<h2>Hook figures (no target)</h2>\n${htmlTable(r.further)}` : ''}
<h2>Machine</h2>
<dl>${dl(r.machine)}</dl>
<h2>Settings</h2>
<dl>${dl({ run: r.quick ? 'quick' : 'full', ...r.settings })}</dl>
<p>Reproduce: as root in a natns checkout, <code>npm run bench</code> (the full run) or <code>BENCH_QUICK=1 npm run bench</code>;
<code>BENCH_ONLY=hook,virsh,oneToOne,dataplane,scale</code> picks parts, <code>BENCH_RESULTS_DIR</code> the folder. See the README's Benchmarks section.</p>
<details><summary>All figures (JSON)</summary><pre>${escapeHtml(JSON.stringify(r.json, null, 2))}</pre></details>
</body></html>
`;
}
