// profile.js first: it sets the quick run's knobs before the measuring modules read them.
import { quick, settings } from './profile.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { startVsNSpec, throughputSpec } from './charts.js';
import { dataplane } from './dataplane.js';
import { etcdBench } from './etcd.js';
import { dualStack } from './dual-stack.js';
import { hookLatency } from './hook-latency.js';
import { oneToOne } from './one-to-one.js';
import * as progress from './progress.js';
import { toPng, toSvg } from './render.js';
import { htmlReport, markdownTable } from './report.js';
import { scale } from './scale.js';
import { hookFigures, ONLY_KEY, summary, verdicts, type Figures, type Measured, type PartName } from './verdicts.js';
import { virshStart } from './virsh-start.js';

/**
 * `npm run bench`; BENCH_ONLY=hook,virsh,oneToOne,dataplane,dualstack,scale,etcd runs a subset, BENCH_QUICK=1 a
 * smaller run, BENCH_RESULTS_DIR picks the folder (bench/results).
 */
const PARTS: { name: PartName; label: string; run: () => Promise<unknown> }[] = [
  { name: 'hookLatency', label: 'hook latency', run: hookLatency },
  { name: 'virshStart', label: 'virsh net-start / net-destroy', run: virshStart },
  { name: 'oneToOne', label: '1:1 NAT', run: oneToOne },
  { name: 'dataplane', label: 'data plane', run: dataplane },
  { name: 'dualStack', label: 'dual stack', run: dualStack },
  { name: 'scale', label: 'scale', run: scale },
  // Starts an etcd of its own and builds an etcd3 variant of the hooks: run when named only.
  { name: 'etcd', label: 'etcd leases', run: etcdBench },
];
const only = new Set((process.env.BENCH_ONLY ?? PARTS.filter((p) => p.name !== 'etcd').map((p) => ONLY_KEY[p.name]).join(',')).split(','));
const chosen = PARTS.filter((p) => only.has(ONLY_KEY[p.name]));
const dir = process.env.BENCH_RESULTS_DIR ?? 'bench/results';
const t0 = Date.now();

function machine(): Record<string, unknown> {
  let iperf3: string | undefined;
  try {
    iperf3 = /iperf (\S+)/.exec(execFileSync('iperf3', ['--version'], { encoding: 'utf8' }))?.[1];
  } catch { /* reported as absent */ }
  // Node reads these at every start-up: the hook figures' node processes pay for them, hooks run by libvirtd do not.
  const nodeEnv = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'].filter((k) => process.env[k]).join(', ');
  return {
    cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10, kernel: release(), node: process.version, iperf3,
    ...(nodeEnv ? { nodeStartupEnv: `${nodeEnv} set in the bench's environment (not in libvirtd's hooks')` } : {}),
  };
}

const date = new Date().toISOString();
const result: Record<string, unknown> = { date, quick, settings: settings(), machine: machine() };
const failures: string[] = [];
for (const [i, p] of chosen.entries()) {
  progress.part(p.label, i + 1, chosen.length);
  try {
    result[p.name] = await p.run();
  } catch (e) {
    // One part failing leaves the others' figures standing; its rows say why they are missing.
    const error = e instanceof Error ? e.message : String(e);
    result[p.name] = { error };
    failures.push(`${p.label}: ${error}`);
  }
}
progress.done();

const measured = result as Measured;
const rows = verdicts(measured);
const further = hookFigures(measured).filter((r) => r.status !== 'not measured');
result.verdicts = rows;
const virshLibvirt = (result.virshStart as Figures | undefined)?.libvirtVersion;
if (typeof virshLibvirt === 'string') (result.machine as Record<string, unknown>).libvirt = virshLibvirt;

mkdirSync(dir, { recursive: true });
const stamp = date.replace(/[:.]/g, '-');
const written: string[] = [];
const write = (name: string, data: string | Buffer) => {
  writeFileSync(join(dir, name), data);
  written.push(join(dir, name));
  return name;
};

// The figures first: minutes of measuring must survive a chart that fails to draw.
write(`bench-${stamp}.json`, JSON.stringify(result, null, 2) + '\n');
const charts: { title: string; svg: string; files: string[] }[] = [];
const ok = (f: unknown): f is Figures => typeof f === 'object' && f !== null && !('error' in f);
const specs = [
  ...(ok(result.dataplane) ? [{ name: 'throughput', title: 'Guest → upstream throughput', spec: throughputSpec(result.dataplane) }] : []),
  ...(ok(result.scale) ? [{ name: 'start-vs-n', title: 'Network start time against N', spec: startVsNSpec(result.scale, ok(result.virshStart) ? result.virshStart : undefined) }] : []),
];
for (const c of specs) {
  try {
    const svg = await toSvg(c.spec);
    charts.push({ title: c.title, svg, files: [write(`${c.name}-${stamp}.svg`, svg), write(`${c.name}-${stamp}.png`, toPng(svg))] });
  } catch (e) {
    failures.push(`chart ${c.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
write(`report-${stamp}.html`, htmlReport({ date, quick, machine: result.machine as Record<string, unknown>, settings: settings(), verdicts: rows, further, charts, failures, json: result }));

process.stdout.write(`\n${markdownTable(rows)}\n${summary(rows)}.\n`);
if (failures.length) process.stdout.write(`\nfailed: ${failures.join('\n        ')}\n`);
process.stdout.write(`\n${quick ? 'quick run' : 'full run'} in ${progress.formatElapsed(Date.now() - t0)}; written:\n${written.map((f) => `  ${f}`).join('\n')}\n`);
process.exitCode = failures.length ? 1 : 0;
