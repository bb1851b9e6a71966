import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineNet, expectStarted, netStart, poolSandbox } from '../helpers/hooknet.js';
import type { Sandbox } from '../helpers/sandbox.js';

/**
 * natns metrics: Prometheus text from a real router (counters on its own nft rules, conntrack in
 * its namespace), the pools, and the hook events in natns's log; --textfile for node_exporter.
 */
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

/** `name{labels} value` lines as a map from `name{labels}` to the value; checks every line's shape on the way. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# ')) {
      expect(line).toMatch(/^# (HELP natns_\w+ .+|TYPE natns_\w+ (gauge|counter|histogram))$/);
      continue;
    }
    const m = /^(natns_\w+(?:\{(?:\w+="(?:[^"\\]|\\.)*",?)*\})?) (\S+)$/.exec(line);
    expect({ line, ok: m !== null }).toEqual({ line, ok: true });
    out.set(m![1]!, m![2] === '+Inf' ? Infinity : Number(m![2]));
  }
  return out;
}

async function metrics(): Promise<Map<string, number>> {
  const r = await sb.cli(['metrics']);
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
  return parse(r.stdout);
}

test('metrics: state with the upstream address, traffic each way counted exactly by the router\'s own rules, conntrack, forwards, DHCP leases, pools, hook events', async () => {
  const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:dhcp start="10.0.0.150" end="10.0.0.199"/>' });
  await expectStarted(sb, net);
  // A start natns refuses: an error line in the log.
  const bad = defineNet(sb, '2', { upstream: '<natns:upstream pool="nosuch"/>' });
  expect((await netStart(sb, bad)).exitCode).not.toBe(0);
  expect((await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '8080', '--to', '10.0.0.100:80'])).exitCode).toBe(0);
  const guest = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
  const n = net.name;

  const before = await metrics();
  expect(before.get(`natns_network_state{network="${n}",upstream="198.51.100.100",state="up"}`)).toBe(1);
  expect(before.get(`natns_network_state{network="${n}",upstream="198.51.100.100",state="down"}`)).toBe(0);
  expect(before.get(`natns_network_forwards{network="${n}"}`)).toBe(1);
  expect(before.get(`natns_network_dhcp_leases{network="${n}"}`)).toBe(0);
  expect(before.get(`natns_network_conntrack_limit{network="${n}"}`)).toBeGreaterThan(0);
  expect(before.get('natns_pool_used{pool="default",bridge="' + `${sb.name('pb')}"}`)).toBe(1);
  expect(before.get('natns_pool_free{pool="default",bridge="' + `${sb.name('pb')}"}`)).toBe(99);
  expect(before.get('natns_hook_events_total{event="network started begin",result="ok"}')).toBe(1);
  expect(before.get('natns_hook_events_total{event="network start begin",result="error"}')).toBe(1);
  expect(before.get('natns_hook_duration_seconds_count{event="network started begin"}')).toBe(1);
  expect(before.get('natns_hook_duration_seconds_bucket{event="network started begin",le="+Inf"}')).toBe(1);
  expect(before.get('natns_hook_duration_seconds_sum{event="network started begin"}')).toBeGreaterThan(0);

  // Five pings of 84 bytes (IPv4 + ICMP + 56 bytes) each way, and nothing else crosses the router.
  for (let i = 0; i < 5; i++) expect(await sb.ping(guest, '198.51.100.1')).toBe(true);
  const after = await metrics();
  const delta = (name: string) => after.get(name)! - (before.get(name) ?? 0);
  for (const dir of ['out', 'in']) {
    expect({ dir, packets: delta(`natns_network_packets_total{network="${n}",direction="${dir}"}`), bytes: delta(`natns_network_bytes_total{network="${n}",direction="${dir}"}`) })
      .toEqual({ dir, packets: 5, bytes: 5 * 84 });
  }
  // A TCP connection through the router leaves a conntrack entry in its namespace.
  await sb.recorder(upstream, 8081);
  expect(await sb.connect(guest, '198.51.100.1', 8081)).toBe('hello 198.51.100.100');
  expect((await metrics()).get(`natns_network_conntrack_entries{network="${n}"}`)).toBeGreaterThanOrEqual(1);
  // The counting rules are natns's own and stateless-observed: check still sees no drift.
  expect((await sb.cli(['check', n])).exitCode).toBe(0);

  // --json: the same families.
  const families = JSON.parse((await sb.cli(['metrics', '--json'])).stdout) as { name: string }[];
  expect(families.map((f) => f.name)).toContain('natns_network_bytes_total');
});

test('metrics --textfile writes DIR/natns.prom atomically (0644, no temp file left), and refuses a missing folder', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const dir = mkdtempSync(join(tmpdir(), 'natns-textfile-'));
  try {
    const r = await sb.cli(['metrics', '--textfile', dir]);
    expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: '', err: '' });
    expect(readdirSync(dir)).toEqual(['natns.prom']);
    expect(statSync(join(dir, 'natns.prom')).mode & 0o777).toBe(0o644);
    const m = parse(readFileSync(join(dir, 'natns.prom'), 'utf8'));
    expect(m.get(`natns_network_state{network="${net.name}",upstream="198.51.100.100",state="up"}`)).toBe(1);
    const missing = await sb.cli(['metrics', '--textfile', join(dir, 'nope')]);
    expect({ code: missing.exitCode, err: missing.stderr }).toEqual({ code: 2, err: `natns: --textfile ${join(dir, 'nope')} is not a folder (node_exporter's --collector.textfile.directory)` });
    expect((await sb.cli(['metrics', '--textfile', dir, '--json'])).exitCode).toBe(2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
