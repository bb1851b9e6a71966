/**
 * Vega-Lite specs of the report's charts. Pure (data in, spec out), so tests can read what a chart
 * will show; render.ts turns a spec into SVG and PNG. Every path has one colour, the same in
 * every chart, and every chart draws its baseline as a dashed reference line.
 */
import type { TopLevelSpec } from 'vega-lite';
import { get, type Figures } from './verdicts.js';

/** The paths traffic or a start can take, in the order charts list them. */
export const PATHS = {
  natns: { label: 'natns, veth patch', colour: '#1f77b4' },
  natnsMacvlan: { label: 'natns, macvlan patch', colour: '#9467bd' },
  hostNat: { label: 'host NAT (libvirt-style)', colour: '#ff7f0e' },
  direct: { label: 'direct, no NAT', colour: '#7f7f7f' },
  floor: { label: 'shell floor', colour: '#2ca02c' },
} as const;
export type PathKey = keyof typeof PATHS;

const FONT = 'DejaVu Sans, Verdana, Helvetica, sans-serif';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 12, titleFontSize: 12 }, title: { fontSize: 15, subtitleFontSize: 12, anchor: 'start' as const } };

/** A colour scale over the series a chart holds, each in its path's colour. */
function colourScale(series: { label: string; path: PathKey }[]) {
  const seen = new Map(series.map((s) => [s.label, PATHS[s.path].colour]));
  return { domain: [...seen.keys()], range: [...seen.values()] };
}

const num = (f: Figures, path: string) => {
  const v = get(f, path);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

export interface ThroughputBar { path: string; streams: string; gbps: number }

/**
 * Guest → upstream throughput: one panel per stream count, a bar per path, host NAT's figure
 * across the panel as the baseline line.
 */
export function throughputSpec(dataplane: Figures): TopLevelSpec {
  const order: PathKey[] = ['natns', 'natnsMacvlan', 'hostNat', 'direct'];
  const bars: ThroughputBar[] = [];
  for (const [key, streams] of [['gbps1', '1 stream'], ['gbps4', '4 streams']] as const) {
    for (const p of order) {
      const gbps = num(dataplane, `${p}.${key}`);
      if (gbps !== undefined) bars.push({ path: PATHS[p].label, streams, gbps });
    }
  }
  const labels = order.map((p) => PATHS[p].label);
  const baseline = PATHS.hostNat.label;
  const y = { field: 'path', type: 'nominal' as const, sort: labels, title: null, axis: { labelLimit: 0, labelFontSize: 12 } };
  const x = { field: 'gbps', type: 'quantitative' as const, title: 'throughput (Gbit/s)', scale: { zero: true, nice: true } };
  const onBaseline = { filter: { field: 'path', equal: baseline } };
  return {
    $schema: SCHEMA,
    title: {
      text: 'Guest → upstream throughput, TCP (iperf3)',
      subtitle: `median of ${num(dataplane, 'rounds') ?? '?'} rounds of ${num(dataplane, 'seconds') ?? '?'} s; dashed line: ${baseline}, the baseline`,
    },
    data: { values: bars },
    facet: { column: { field: 'streams', type: 'nominal', sort: ['1 stream', '4 streams'], title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
    spec: {
      width: 300,
      height: 150,
      layer: [
        { mark: { type: 'bar', height: { band: 0.7 } }, encoding: { y, x, color: { field: 'path', type: 'nominal', scale: colourScale(order.map((p) => ({ label: PATHS[p].label, path: p }))), legend: null } } },
        // Inside the bar's end, where the baseline line cannot run through it.
        { mark: { type: 'text', align: 'right', dx: -4, fontSize: 12, fontWeight: 'bold', color: 'white' }, encoding: { y, x, text: { field: 'gbps', type: 'quantitative', format: '.1f' } } },
        { transform: [onBaseline], mark: { type: 'rule', color: PATHS.hostNat.colour, strokeDash: [6, 4], strokeWidth: 2 }, encoding: { x: { field: 'gbps', type: 'quantitative' } } },
        {
          transform: [onBaseline],
          mark: { type: 'text', align: 'center', baseline: 'bottom', dy: -2, fontSize: 11, color: PATHS.hostNat.colour },
          encoding: { x: { field: 'gbps', type: 'quantitative' }, y: { value: 0 }, text: { value: 'baseline' } },
        },
      ],
    },
    resolve: { scale: { x: 'shared' } },
    config: CONFIG,
  };
}

export interface StartPoint { series: string; n: number; ms: number }
export interface ReferenceLine { series: string; ms: number }

/**
 * natns start time against the number of networks already running, with the shell floor measured
 * at the beginning and at the end, and `virsh net-start` of libvirt's NAT network (and of a natns
 * network, so whole command is compared with whole command) as reference lines.
 */
export function startVsNSpec(scale: Figures, virsh?: Figures): TopLevelSpec {
  const series = get(scale, 'series');
  const n = num(scale, 'networks') ?? 0;
  const work = 'natns start work (in-process)';
  const floor = `${PATHS.floor.label} (same batches from bash)`;
  const points: StartPoint[] = Array.isArray(series)
    ? series.filter((p): p is [number, number] => Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number').map(([i, ms]) => ({ series: work, n: i, ms }))
    : [];
  const floorFirst = num(scale, 'floorMsFirst');
  const floorLast = num(scale, 'floorMsLast');
  // The floor's router is measured before the first network and after the last: it is number 1, then N+1.
  if (floorFirst !== undefined && floorLast !== undefined) points.push({ series: floor, n: 1, ms: floorFirst }, { series: floor, n: n + 1, ms: floorLast });
  const rules: (ReferenceLine & { colour: string })[] = [];
  const natStart = virsh && num(virsh, 'libvirtNat.startMs');
  const natnsStart = virsh && num(virsh, 'natns.startMs');
  if (natStart !== undefined) rules.push({ series: 'libvirt NAT: whole virsh net-start', ms: natStart, colour: PATHS.hostNat.colour });
  if (natnsStart !== undefined) rules.push({ series: 'natns: whole virsh net-start', ms: natnsStart, colour: PATHS.natns.colour });
  const color = {
    field: 'series', type: 'nominal' as const,
    scale: colourScale([{ label: work, path: 'natns' }, { label: floor, path: 'floor' }]),
    legend: { orient: 'bottom' as const, direction: 'vertical' as const, title: null, labelFontSize: 12, labelLimit: 0 },
  };
  const x = { field: 'n', type: 'quantitative' as const, title: 'N (networks running, this one included)', scale: { domain: [0, n + 1], nice: false } };
  const y = { field: 'ms', type: 'quantitative' as const, title: 'start time (ms)', scale: { zero: true } };
  return {
    $schema: SCHEMA,
    title: { text: `Network start time against N (up to N=${n})`, subtitle: 'dashed: whole virsh net-start, measured with no bench networks running' },
    width: 560,
    height: 260,
    layer: [
      { data: { values: points }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color } },
      // Reference lines carry their own label at the right end rather than a legend entry.
      ...rules.flatMap((r) => [
        { data: { values: [{ series: r.series, ms: r.ms }] }, mark: { type: 'rule' as const, color: r.colour, strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y } },
        {
          data: { values: [{ series: r.series, ms: r.ms }] },
          mark: { type: 'text' as const, color: r.colour, align: 'right' as const, baseline: 'bottom' as const, dy: -3, fontSize: 12 },
          encoding: { y, x: { value: 'width' as const }, text: { value: `${r.series}: ${Math.round(r.ms)} ms` } },
        },
      ]),
    ],
    config: CONFIG,
  };
}
