import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dataplane } from './dataplane.js';
import { etcdBench } from './etcd.js';
import { hookLatency } from './hook-latency.js';
import { oneToOne } from './one-to-one.js';
import { scale } from './scale.js';
import { barChart, lineChart } from './svg.js';

/** `npm run bench`; BENCH_ONLY=hook,etcd,scale,dataplane,oneToOne runs a subset. */
const only = new Set((process.env.BENCH_ONLY ?? 'hook,etcd,oneToOne,dataplane,scale').split(','));
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
};
if (only.has('hook')) result.hookLatency = await hookLatency();
if (only.has('etcd')) result.etcd = await etcdBench();
if (only.has('oneToOne')) result.oneToOne = await oneToOne();
if (only.has('dataplane')) result.dataplane = await dataplane();
if (only.has('scale')) result.scale = await scale();

mkdirSync('bench/results', { recursive: true });
const stamp = String(result.date).replace(/[:.]/g, '-');
const file = `bench/results/bench-${stamp}.json`;
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
const scaleResult = result.scale as { series: number[][]; networks: number } | undefined;
if (scaleResult) {
  writeFileSync(`bench/results/start-vs-n-${stamp}.svg`, lineChart(`natns network start time vs number of networks (N up to ${scaleResult.networks})`, scaleResult.series, 'networks already running', 'start ms'));
}
const dp = result.dataplane as Record<string, { gbps1: number; gbps4: number }> | undefined;
if (dp) {
  writeFileSync(`bench/results/throughput-${stamp}.svg`, barChart('guest to upstream throughput', [
    ...([1, 4] as const).flatMap((n) => {
      const key = n === 1 ? 'gbps1' : 'gbps4';
      return [
        { label: `natns veth ${n}`, value: dp.natns![key] }, { label: `natns macvlan ${n}`, value: dp.natnsMacvlan![key] },
        { label: `host NAT ${n}`, value: dp.hostNat![key] }, { label: `direct ${n}`, value: dp.direct![key] },
      ];
    }),
  ], 'Gbit/s, 1 and 4 streams'));
}
const { series: _series, ...scaleSummary } = (scaleResult ?? {}) as Record<string, unknown>;
process.stdout.write(JSON.stringify({ ...result, ...(scaleResult ? { scale: scaleSummary } : {}) }, null, 2) + `\nwritten to ${file} (and SVG charts beside it)\n`);
