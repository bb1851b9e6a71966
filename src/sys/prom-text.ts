/**
 * Prometheus's text exposition format (version 0.0.4), written by hand: a few families of
 * gauges, counters and one histogram do not need a client library (see the README, "natns
 * metrics"). Pure: values in, text out.
 */
export type Labels = Record<string, string>;

export interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples: { labels: Labels; value: number; suffix?: string }[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${labelText(s.labels)} ${valueText(s.value)}`);
  }
  return out.join('\n') + '\n';
}

/** The samples of one histogram series: cumulative buckets (`le`), `_sum` and `_count`. */
export function histogramSamples(labels: Labels, values: number[], buckets: number[]): Family['samples'] {
  const samples: Family['samples'] = buckets.map((le) => ({ suffix: '_bucket', labels: { ...labels, le: String(le) }, value: values.filter((v) => v <= le).length }));
  samples.push(
    { suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: values.length },
    { suffix: '_sum', labels, value: Math.round(values.reduce((a, b) => a + b, 0) * 1e6) / 1e6 },
    { suffix: '_count', labels, value: values.length },
  );
  return samples;
}
