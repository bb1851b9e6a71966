import { markdownTable } from '../../bench/report.js';
import { TARGETS, hookFigures, judge, summary, verdicts, type Measured, type VerdictRow } from '../../bench/verdicts.js';

// Figures shaped as the measuring parts return them (numbers from earlier runs on this machine).
const full = (): Measured => ({
  virshStart: { rounds: 10, libvirtNat: { startMs: 260, destroyMs: 477 }, natns: { startMs: 350, destroyMs: 448 }, hooksAlone: { startMs: 520, destroyMs: 490, libvirtNat: { startMs: 260, destroyMs: 477 } }, agent: { rssMiB: 70.2, idleCpuPercent: 0 }, hooksMatchBuild: true, hookIgnoredMs: 36.7 },
  dataplane: {
    seconds: 5, rounds: 5,
    natns: { gbps1: 10.4, gbps4: 10.9, rttMs: 0.062, connPerS: 2625 },
    natnsMacvlan: { gbps1: 16.6, gbps4: 11.3, rttMs: 0.05, connPerS: 3165 },
    hostNat: { gbps1: 12.6, gbps4: 12.4, rttMs: 0.048, connPerS: 3596 },
    direct: { gbps1: 25, gbps4: 22, rttMs: 0.03, connPerS: 5000 },
  },
  oneToOne: { nftGbps: 16.2, statefulGbps: 20.8, nftOutGbps: 14.6, statefulOutGbps: 16.9 },
  dualStack: {
    ipv4: { gbps1: 6.0, gbps4: 7.0 }, nat66: { gbps1: 5.4, gbps4: 7.7 }, nptv6: { gbps1: 6.6, gbps4: 7.0 },
    startMs: { ipv4: 60, ipv4Dhcp: 75, dualStack: 78 },
  },
  scale: { networks: 1000, startMsFirst10: 61, startMsLast10: 64, floorLastVsFirst: 1.39, listJsonMs: 326, memPerNetworkKiB: 539 },
});

const byId = (rows: VerdictRow[]) => Object.fromEntries(rows.map((r) => [r.id, r]));

describe('verdict rows', () => {
  test('one row per performance target, in the targets order', () => {
    expect(verdicts(full()).map((r) => r.id)).toEqual([
      'virshStart', 'virshDestroy', 'throughput1', 'throughput4', 'connRate', 'pingRtt',
      'oneToOneIn', 'oneToOneOut', 'startAtN', 'listAtN', 'memPerRouter', 'ipv6', 'failover', 'agentRss', 'agentIdle',
    ]);
    expect(TARGETS).toHaveLength(15);
  });

  test('ratios against the baseline of the same run, judged against each target', () => {
    const r = byId(verdicts(full()));
    expect(r.virshStart).toMatchObject({ value: 350, baseline: 260, ratio: 1.35, target: '≤ 1.0×', status: 'missed' });
    expect(r.virshDestroy).toMatchObject({ ratio: 0.94, status: 'met' });
    expect(r.throughput1).toMatchObject({ value: 10.4, baseline: 12.6, ratio: 0.83, target: '≥ 1.0×', status: 'missed', unit: 'Gbit/s' });
    expect(r.throughput4).toMatchObject({ ratio: 0.88, status: 'missed' });
    // The figure: 0.73× of host NAT, now with a target like the other data-plane rows.
    expect(r.connRate).toMatchObject({ ratio: 0.73, target: '≥ 1.0×', status: 'missed', note: 'macvlan patch: 0.88×' });
    expect(r.pingRtt).toMatchObject({ ratio: 1.29, target: '≤ 1.0×', status: 'missed' });
    expect(r.oneToOneIn).toMatchObject({ ratio: 0.78, baselineWhat: 'conntrack NAT, same topology', status: 'missed' });
    expect(r.oneToOneOut).toMatchObject({ ratio: 0.86, status: 'missed' });
    expect(r.startAtN).toMatchObject({ what: 'start at N=1000 (median of the last 10)', ratio: 1.05, target: '≤ 1.1×', status: 'met', note: 'shell floor: 1.39×' });
    expect(r.listAtN).toMatchObject({ what: '`natns list --json` at N=1000', value: 326, ratio: undefined, target: '≤ 1000', status: 'met' });
    expect(r.listAtN!.note).toBeUndefined();
    expect(r.memPerRouter).toMatchObject({ value: 539, unit: 'KiB', status: 'reported', target: 'report only' });
    expect(r.memPerRouter!.note).toMatch(/MemAvailable/);
  });

  test('IPv6 forwarding is judged against IPv4 through the same dual-stack router, with 4 streams and NPTv6 in the note', () => {
    expect(byId(verdicts(full())).ipv6).toMatchObject({
      value: 5.4, baseline: 6.0, baselineWhat: 'IPv4 through the same router', ratio: 0.9, target: '≥ 1.0×', status: 'missed', note: '4 streams: 1.10×, NPTv6: 1.10×',
    });
    const m = full();
    delete m.dualStack;
    expect(byId(verdicts(m)).ipv6).toMatchObject({ status: 'not measured', note: 'not run (BENCH_ONLY left out dualstack)' });
  });

  test('the start of a dual-stack network is reported against an IPv4-only one, and one with DHCP', () => {
    expect(byId(hookFigures(full())).startDualStack).toMatchObject({
      value: 78, baseline: 60, ratio: 1.3, status: 'reported', note: 'against an IPv4 network with DHCP (dnsmasq, as every dual-stack network runs one): 1.04×',
    });
  });

  test('rows without a measurement yet say so and are no failures', () => {
    const r = byId(verdicts(full()));
    expect(r.failover).toMatchObject({ status: 'not measured', note: 'not measured yet' });
    expect(r.failover!.value).toBeUndefined();
  });

  test("the agent's memory and idle CPU are judged against their bounds", () => {
    const r = byId(verdicts(full()));
    expect(r.agentRss).toMatchObject({ value: 70.2, status: 'missed', target: '≤ 60.0' });
    expect(r.agentIdle).toMatchObject({ value: 0, status: 'met' });
  });

  test('natns start and stop are judged with the agent, the hooks alone said beside them', () => {
    const r = byId(verdicts(full()));
    expect(r.virshStart!.note).toMatch(/^with natns agent; hooks alone 520 ms \(2\.00×\); the baseline includes 2 runs/);
    expect(r.virshDestroy!.note).toMatch(/^with natns agent; hooks alone 490 ms \(1\.03×\)/);
  });

  test('the libvirt rows say what the natns hook adds to the baseline', () => {
    const r = byId(verdicts(full()));
    expect(r.virshStart!.note).toMatch(/; the baseline includes 2 runs of the natns hook ignoring it \(36\.7 ms each\)$/);
    expect(r.virshDestroy!.note).toMatch(/; the baseline includes 1 run of the natns hook ignoring it \(36\.7 ms each\)$/);
    const m = full();
    m.virshStart!.hooksMatchBuild = false;
    expect(byId(verdicts(m)).virshStart!.note).toMatch(/installed hooks differ from this build/);
  });

  test('natns hooks not installed: the natns rows are not measured, with that reason', () => {
    const m = full();
    m.virshStart = { libvirtNat: { startMs: 260, destroyMs: 477 }, natns: { notMeasured: 'natns hooks not installed' } };
    const r = byId(verdicts(m));
    expect(r.virshStart).toMatchObject({ status: 'not measured', note: 'natns hooks not installed', baseline: 260 });
    expect(r.virshStart!.value).toBeUndefined();
    expect(r.virshStart!.ratio).toBeUndefined();
    expect(r.virshDestroy!.status).toBe('not measured');
  });

  test('a failed part, a part not run and a missing figure each leave their rows not measured, saying why', () => {
    const m = full();
    m.dataplane = { error: 'iperf3: command not found' };
    delete m.oneToOne;
    delete m.virshStart;
    delete (m.scale as Record<string, unknown>).listJsonMs;
    const r = byId(verdicts(m));
    expect(r.throughput1).toMatchObject({ status: 'not measured', note: 'dataplane failed: iperf3: command not found' });
    expect(r.pingRtt!.status).toBe('not measured');
    expect(r.oneToOneIn).toMatchObject({ status: 'not measured', note: 'not run (BENCH_ONLY left out oneToOne)' });
    expect(r.listAtN).toMatchObject({ status: 'not measured', note: 'figure missing from the results' });
    expect(r.virshStart).toMatchObject({ status: 'not measured', note: 'not run (BENCH_ONLY left out virsh)' });
    expect(r.startAtN!.status).toBe('met');
  });

  test('a smaller N names itself and says the list target is set for N=1000', () => {
    const m = full();
    m.scale!.networks = 50;
    const r = byId(verdicts(m));
    expect(r.startAtN!.what).toBe('start at N=50 (median of the last 10)');
    expect(r.listAtN).toMatchObject({ what: '`natns list --json` at N=50', note: 'the target is set for N=1000; this run had fewer' });
  });

  test('a memory figure below zero is reported as noise, not as a figure to quote', () => {
    const m = full();
    m.scale!.memPerNetworkKiB = -2751;
    expect(byId(verdicts(m)).memPerRouter).toMatchObject({ status: 'reported', note: expect.stringMatching(/not meaningful here/) });
    expect(byId(verdicts(full())).memPerRouter!.note).not.toMatch(/not meaningful/);
  });
});

describe('judging', () => {
  test('on the ratio as printed, two decimals', () => {
    const atMost = { kind: 'ratio', op: '<=', limit: 1.0 } as const;
    const atLeast = { kind: 'ratio', op: '>=', limit: 1.0 } as const;
    expect(judge(atMost, 0, 1.004)).toBe('met');
    expect(judge(atMost, 0, 1.006)).toBe('missed');
    expect(judge(atLeast, 0, 0.996)).toBe('met');
    expect(judge(atLeast, 0, 0.994)).toBe('missed');
    expect(judge({ kind: 'ratio', op: '<=', limit: 1.1 }, 0, 1.1)).toBe('met');
  });

  test('an absolute bound on the value itself; report-only rows are never judged', () => {
    expect(judge({ kind: 'value', op: '<=', limit: 1000 }, 1000)).toBe('met');
    expect(judge({ kind: 'value', op: '<=', limit: 1000 }, 1000.5)).toBe('missed');
    expect(judge({ kind: 'report', why: '' }, 1e9)).toBe('reported');
  });
});

describe('summary and table', () => {
  test('counts met, missed, not measured and reported rows', () => {
    expect(summary(verdicts(full()))).toBe('4 of 13 targets met, 9 missed; 1 not measured, 1 reported only');
  });

  test('the Markdown table has a header and one padded line per row, every label in it', () => {
    const rows = verdicts(full());
    const lines = markdownTable(rows).trimEnd().split('\n');
    expect(lines).toHaveLength(rows.length + 2);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    rows.forEach((r, i) => {
      expect(lines[i + 2]).toContain(r.what);
      expect(lines[i + 2]).toContain(r.status);
    });
    expect(lines[4]).toContain('10.4 Gbit/s');
    expect(lines[4]).toContain('host NAT, as libvirt does it: 12.6 Gbit/s');
    expect(lines[4]).toContain('0.83×');
  });
});
