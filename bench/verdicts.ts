/**
 * The verdict table: every performance target, what natns measured, the baseline measured in the
 * same run, the ratio, and met / missed. Pure: it reads the figures the measuring parts return
 * (or their JSON) and never measures anything itself.
 */

/** A part's figures, `{ error }` when it failed, or undefined when it was not run. */
export type Figures = Record<string, unknown>;
export type PartName = 'hookLatency' | 'virshStart' | 'oneToOne' | 'dataplane' | 'dualStack' | 'scale' | 'etcd';
export type Measured = Partial<Record<PartName, Figures>>;
/** The names BENCH_ONLY knows the parts by. */
export const ONLY_KEY: Record<PartName, string> = { hookLatency: 'hook', virshStart: 'virsh', oneToOne: 'oneToOne', dataplane: 'dataplane', dualStack: 'dualstack', scale: 'scale', etcd: 'etcd' };

export type Target =
  | { kind: 'ratio'; op: '<=' | '>='; limit: number }
  | { kind: 'value'; op: '<='; limit: number }
  | { kind: 'report'; why: string };

export type Status = 'met' | 'missed' | 'reported' | 'not measured';

export interface VerdictRow {
  id: string;
  what: string;
  unit: string;
  value?: number;
  baselineWhat?: string;
  baseline?: number;
  ratio?: number;
  target: string;
  status: Status;
  /** Why a row is not measured, or what else the reader should know about the figure. */
  note?: string;
}

interface RowSpec {
  id: string;
  part?: PartName;
  what: string | ((f: Figures) => string);
  unit: string;
  value?: string;
  baseline?: { what: string; value: string };
  target: Target | { kind: 'unset'; text: string };
  /** A path in the figures whose string says why this row could not be measured. */
  unavailable?: string;
  note?: (f: Figures) => string | undefined;
}

/** `get(f, 'natns.gbps1')`: a number deep in the figures, or undefined. */
export function get(f: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), f);
}

function num(f: unknown, path: string): number | undefined {
  const v = get(f, path);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Three significant digits at most, no trailing noise: 0.0523, 10.4, 3332. */
export function formatNumber(x: number): string {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export function targetText(t: RowSpec['target']): string {
  switch (t.kind) {
    case 'ratio': return `${t.op === '<=' ? '≤' : '≥'} ${t.limit.toFixed(1)}×`;
    case 'value': return `≤ ${formatNumber(t.limit)}`;
    case 'report': return 'report only';
    case 'unset': return t.text;
  }
}

/** Met or missed, judged on the ratio as printed (two decimals), so the table never contradicts itself. */
export function judge(target: Target, value: number, ratio?: number): Status {
  if (target.kind === 'report') return 'reported';
  const x = target.kind === 'ratio' ? round2(ratio!) : value;
  const ok = target.op === '<=' ? x <= target.limit : x >= target.limit;
  return ok ? 'met' : 'missed';
}

const ratioOf = (f: Figures, a: string, b: string) => {
  const x = num(f, a), y = num(f, b);
  return x !== undefined && y !== undefined && y > 0 ? round2(x / y) : undefined;
};
const macvlanNote = (key: string) => (f: Figures) => {
  const r = ratioOf(f, `natnsMacvlan.${key}`, `hostNat.${key}`);
  return r === undefined ? undefined : `macvlan patch: ${r.toFixed(2)}×`;
};
const NOT_YET = 'not measured yet';
const atN = (f: Figures) => (num(f, 'networks') === undefined ? 'N' : `N=${num(f, 'networks')}`);
const HOST_NAT = 'host NAT, as libvirt does it';

/** The rows of the performance targets, in their order. */
export const TARGETS: RowSpec[] = [
  {
    id: 'virshStart', part: 'virshStart', what: '`virsh net-start`, network with DHCP', unit: 'ms',
    value: 'natns.startMs', baseline: { what: 'libvirt NAT network with DHCP', value: 'libvirtNat.startMs' },
    target: { kind: 'ratio', op: '<=', limit: 1.0 }, unavailable: 'natns.notMeasured',
    note: (f) => [agentNote(f, 'startMs'), hookNote(f, 2)].filter(Boolean).join('; ') || undefined,
  },
  {
    id: 'virshDestroy', part: 'virshStart', what: '`virsh net-destroy`', unit: 'ms',
    value: 'natns.destroyMs', baseline: { what: 'libvirt NAT network with DHCP', value: 'libvirtNat.destroyMs' },
    target: { kind: 'ratio', op: '<=', limit: 1.0 }, unavailable: 'natns.notMeasured',
    note: (f) => [agentNote(f, 'destroyMs'), hookNote(f, 1)].filter(Boolean).join('; ') || undefined,
  },
  {
    id: 'throughput1', part: 'dataplane', what: 'guest → upstream, 1 stream, default (veth) patch', unit: 'Gbit/s',
    value: 'natns.gbps1', baseline: { what: HOST_NAT, value: 'hostNat.gbps1' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 }, note: macvlanNote('gbps1'),
  },
  {
    id: 'throughput4', part: 'dataplane', what: 'guest → upstream, 4 streams', unit: 'Gbit/s',
    value: 'natns.gbps4', baseline: { what: HOST_NAT, value: 'hostNat.gbps4' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 }, note: macvlanNote('gbps4'),
  },
  {
    id: 'connRate', part: 'dataplane', what: 'new TCP connections per second', unit: 'conn/s',
    value: 'natns.connPerS', baseline: { what: HOST_NAT, value: 'hostNat.connPerS' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 }, note: macvlanNote('connPerS'),
  },
  {
    id: 'pingRtt', part: 'dataplane', what: 'ping round trip', unit: 'ms',
    value: 'natns.rttMs', baseline: { what: HOST_NAT, value: 'hostNat.rttMs' },
    target: { kind: 'ratio', op: '<=', limit: 1.0 }, note: macvlanNote('rttMs'),
  },
  {
    id: 'oneToOneIn', part: 'oneToOne', what: '1:1 NAT, inbound', unit: 'Gbit/s',
    value: 'nftGbps', baseline: { what: 'conntrack NAT, same topology', value: 'statefulGbps' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 },
  },
  {
    id: 'oneToOneOut', part: 'oneToOne', what: '1:1 NAT, outbound', unit: 'Gbit/s',
    value: 'nftOutGbps', baseline: { what: 'conntrack NAT, same topology', value: 'statefulOutGbps' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 },
  },
  {
    id: 'startAtN', part: 'scale', what: (f) => `start at ${atN(f)} (median of the last 10)`, unit: 'ms',
    value: 'startMsLast10', baseline: { what: 'the first 10 networks', value: 'startMsFirst10' },
    target: { kind: 'ratio', op: '<=', limit: 1.1 },
    note: (f) => {
      const r = num(f, 'floorLastVsFirst');
      return r === undefined ? undefined : `shell floor: ${r.toFixed(2)}×`;
    },
  },
  {
    id: 'listAtN', part: 'scale', what: (f) => `\`natns list --json\` at ${atN(f)}`, unit: 'ms',
    value: 'listJsonMs', target: { kind: 'value', op: '<=', limit: 1000 },
    note: (f) => ((num(f, 'networks') ?? 0) < 1000 ? 'the target is set for N=1000; this run had fewer' : undefined),
  },
  {
    id: 'memPerRouter', part: 'scale', what: 'memory per router', unit: 'KiB',
    value: 'memPerNetworkKiB',
    target: {
      kind: 'report',
      // MemAvailable falls for anything on the host, not only for the routers: a bound would judge the neighbours.
      why: 'measured as the fall of MemAvailable over N starts, which the rest of the host moves too',
    },
    note: (f) => ((num(f, 'memPerNetworkKiB') ?? 1) <= 0 ? 'not meaningful here: the rest of the host freed more than the routers took (a larger N helps)' : undefined),
  },
  {
    // The same dual-stack router carries both families; its IPv4 path is the baseline.
    id: 'ipv6', part: 'dualStack', what: 'IPv6 forwarding (NAT66), guest → upstream, 1 stream', unit: 'Gbit/s',
    value: 'nat66.gbps1', baseline: { what: 'IPv4 through the same router', value: 'ipv4.gbps1' },
    target: { kind: 'ratio', op: '>=', limit: 1.0 },
    note: (f) => {
      const parts = [['4 streams', ratioOf(f, 'nat66.gbps4', 'ipv4.gbps4')], ['NPTv6', ratioOf(f, 'nptv6.gbps1', 'ipv4.gbps1')]] as const;
      const said = parts.filter(([, r]) => r !== undefined).map(([w, r]) => `${w}: ${r!.toFixed(2)}×`);
      return said.length ? said.join(', ') : undefined;
    },
  },
  { id: 'failover', what: 'upstream failover', unit: 'ms', target: { kind: 'unset', text: 'not set yet' } },
  {
    id: 'agentRss', part: 'virshStart', what: '`natns agent` resident memory', unit: 'MiB',
    value: 'agent.rssMiB', target: { kind: 'value', op: '<=', limit: 60 },
  },
  {
    id: 'agentIdle', part: 'virshStart', what: '`natns agent` CPU while idle', unit: '% of a core',
    value: 'agent.idleCpuPercent', target: { kind: 'value', op: '<=', limit: 0.1 },
  },
];

/** libvirt runs the natns hook for its own NAT network too; say what that costs the baseline. */
/** natns is measured with `natns agent` serving its hooks; the same network with the hooks alone, beside it. */
function agentNote(f: Figures, key: 'startMs' | 'destroyMs'): string | undefined {
  const alone = num(f, `hooksAlone.${key}`);
  const r = ratioOf(f, `hooksAlone.${key}`, `hooksAlone.libvirtNat.${key}`);
  return alone === undefined || r === undefined ? undefined : `with natns agent; hooks alone ${formatNumber(alone)} ms (${r.toFixed(2)}×)`;
}

function hookNote(f: Figures, calls: number): string | undefined {
  const ms = num(f, 'hookIgnoredMs');
  const parts = [];
  if (ms !== undefined) parts.push(`the baseline includes ${calls} run${calls > 1 ? 's' : ''} of the natns hook ignoring it (${formatNumber(ms)} ms each)`);
  if (get(f, 'hooksMatchBuild') === false) parts.push('installed hooks differ from this build');
  return parts.length ? parts.join('; ') : undefined;
}

function notMeasured(spec: RowSpec, what: string, note: string, baseline?: number): VerdictRow {
  const row: VerdictRow = { id: spec.id, what, unit: spec.unit, baselineWhat: spec.baseline?.what, target: targetText(spec.target), status: 'not measured', note };
  return baseline === undefined ? row : { ...row, baseline };
}

export function verdictRow(spec: RowSpec, m: Measured): VerdictRow {
  const f = spec.part ? m[spec.part] : undefined;
  const what = typeof spec.what === 'string' ? spec.what : spec.what(f ?? {});
  if (!spec.part || spec.target.kind === 'unset') return notMeasured(spec, what, NOT_YET);
  if (f === undefined) return notMeasured(spec, what, `not run (BENCH_ONLY left out ${ONLY_KEY[spec.part]})`);
  const error = get(f, 'error');
  if (typeof error === 'string') return notMeasured(spec, what, `${spec.part} failed: ${error}`);
  const value = spec.value ? num(f, spec.value) : undefined;
  const baseline = spec.baseline ? num(f, spec.baseline.value) : undefined;
  // The baseline may well have been measured when natns could not be: the table still shows it.
  const why = spec.unavailable ? get(f, spec.unavailable) : undefined;
  if (typeof why === 'string') return notMeasured(spec, what, why, baseline);
  if (value === undefined || (spec.baseline && baseline === undefined)) return notMeasured(spec, what, 'figure missing from the results');
  const ratio = baseline !== undefined && baseline > 0 ? round2(value / baseline) : undefined;
  const target = spec.target;
  const notes = [target.kind === 'report' ? target.why : undefined, spec.note?.(f)].filter(Boolean);
  return {
    id: spec.id, what, unit: spec.unit, value, baselineWhat: spec.baseline?.what, baseline, ratio,
    target: targetText(target), status: judge(target, value, ratio),
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
}

export function verdicts(m: Measured): VerdictRow[] {
  return TARGETS.map((spec) => verdictRow(spec, m));
}

/** Hook latency has no target of its own any more; its figures stay in the report, for reference. */
export const HOOK_FIGURES: RowSpec[] = [
  {
    id: 'startWork', part: 'hookLatency', what: 'network start, the work (in-process)', unit: 'ms',
    value: 'medianMs.natnsStart', baseline: { what: 'the same ip/nft batches from bash', value: 'medianMs.floorStart' },
    target: { kind: 'report', why: '' },
  },
  {
    id: 'stopWork', part: 'hookLatency', what: 'network stop, the work', unit: 'ms',
    value: 'medianMs.natnsStop', baseline: { what: 'the same from bash', value: 'medianMs.floorStop' },
    target: { kind: 'report', why: '' },
  },
  {
    id: 'hookStarted', part: 'hookLatency', what: 'whole `started` hook process', unit: 'ms',
    value: 'medianMs.hookStart', baseline: { what: '`node -e 0`', value: 'medianMs.nodeBare' },
    target: { kind: 'report', why: '' },
  },
  {
    id: 'startDualStack', part: 'dualStack', what: 'dual-stack network start, the work (in-process)', unit: 'ms',
    value: 'startMs.dualStack', baseline: { what: 'an IPv4-only network', value: 'startMs.ipv4' },
    target: { kind: 'report', why: '' },
    note: (f) => {
      const r = ratioOf(f, 'startMs.dualStack', 'startMs.ipv4Dhcp');
      return r === undefined ? undefined : `against an IPv4 network with DHCP (dnsmasq, as every dual-stack network runs one): ${r.toFixed(2)}×`;
    },
  },
  {
    id: 'hookIgnored', part: 'hookLatency', what: 'hook for an event natns ignores', unit: 'ms',
    value: 'medianMs.hookIgnored', baseline: { what: '`node -e 0`', value: 'medianMs.nodeBare' },
    target: { kind: 'report', why: '' },
  },
];

export function hookFigures(m: Measured): VerdictRow[] {
  return HOOK_FIGURES.map((spec) => verdictRow(spec, m));
}

/** One line for the top of the report: how many targets were met, missed, not measured. */
export function summary(rows: VerdictRow[]): string {
  const count = (s: Status) => rows.filter((r) => r.status === s).length;
  const judged = count('met') + count('missed');
  return `${count('met')} of ${judged} targets met, ${count('missed')} missed; ${count('not measured')} not measured, ${count('reported')} reported only`;
}
