import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { SimHost } from '../helpers/simhost.js';
import { CLI, repoRoot, sh } from '../helpers/sandbox.js';
import { hookData, networkXml } from '../helpers/xml.js';

/**
 * A stretched network on two simulated hosts (each its own network and mount namespace, see
 * SimHost), joined by a fabric namespace with two bridges: the underlay (192.0.2.0/24, the
 * hosts' VTEPs) and the provider network, where the fabric itself is the upstream host
 * 198.51.100.1. Real VXLAN devices, real routers built by the built hooks.
 *
 * etcd runs in the fabric namespace on the underlay (192.0.2.1), and each host runs its own
 * `natns agent`, which elects the one active router.
 */
const VNI = 4100;
const UPSTREAM = '198.51.100.120';
let a: SimHost;
let b: SimHost;
let fab: string;
const net = { name: '', uuid: randomUUID(), bridge: '' };
let xml = '';

async function must(file: string, args: string[], input = ''): Promise<string> {
  const r = await execa(file, args, { input, reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.all}`);
  return r.stdout;
}

/** Wire a host into the fabric: eth1 on the underlay with `vtep`, br0 (provider bridge) via up0. */
async function wire(host: SimHost, tag: string, vtep: string): Promise<void> {
  const id = a.sb.id;
  await must('ip', ['-batch', '-'], [
    `link add ${id}-${tag}u type veth peer name ${id}-${tag}p netns ${fab}`,
    `link add ${id}-${tag}w type veth peer name ${id}-${tag}q netns ${fab}`,
  ].join('\n') + '\n');
  await must('ip', ['-n', fab, '-batch', '-'], [
    `link set ${id}-${tag}p master under up`, `link set ${id}-${tag}q master prov up`,
  ].join('\n') + '\n');
  await host.adopt(`${id}-${tag}u`, 'eth1');
  await host.adopt(`${id}-${tag}w`, 'up0');
  await host.ip([
    `addr add ${vtep}/24 dev eth1`, 'link set eth1 up',
    'link add br0 type bridge', 'link set br0 up', 'link set up0 master br0', 'link set up0 up',
  ]);
  // The VXLAN XML is the same on both hosts; each names its own VTEP in its config.
  host.sb.writeConfig({ host: host.name, vxlanLocal: vtep, ipam: { backend: 'etcd', endpoints: [ETCD], prefix: `/natns-${a.sb.id}/` } });
}

const ETCD = 'http://192.0.2.1:2379';
const agents = new Map<SimHost, ReturnType<SimHost['spawn']>>();

function startAgent(host: SimHost): void {
  const child = host.spawn([CLI, 'agent']);
  // Kept for a failed run: what each agent decided and when.
  child.all!.pipe(createWriteStream(join(host.sb.dir, 'agent.log'), { flags: 'a' }));
  agents.set(host, child);
}

/** Whether the host's router is active (its private side up). */
async function isActive(host: SimHost): Promise<boolean> {
  const r = await host.run(['ip', '-n', namespaceName(net.name), '-j', 'link', 'show', 'dev', 'lan']);
  if (r.exitCode !== 0) return false;
  return ((JSON.parse(r.stdout) as { flags: string[] }[])[0]?.flags ?? []).includes('UP');
}

async function until(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `virsh net-start` on one host: `start begin`, the bridge, `started begin`. */
async function netStart(host: SimHost): Promise<void> {
  for (const step of ['start', 'started'] as const) {
    if (step === 'started') await host.ip([`link add ${net.bridge} type bridge`, `link set ${net.bridge} up`]);
    const r = await host.hook([net.name, step, 'begin', '-'], xml);
    if (r.exitCode !== 0 || r.stderr !== '') throw new Error(`${step} on ${host.name} failed (${r.exitCode}): ${r.stderr}`);
  }
}

async function links(host: SimHost, ns?: string): Promise<{ ifname: string; mtu: number; master?: string; flags: string[]; linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string } } }[]> {
  return JSON.parse(await host.must(['ip', ...(ns ? ['-n', ns] : []), '-d', '-j', 'link', 'show']));
}

beforeAll(async () => {
  a = await SimHost.start('kvm-a');
  b = await SimHost.start('kvm-b');
  fab = `${a.sb.id}-fab`;
  await must('ip', ['netns', 'add', fab]);
  await must('ip', ['-n', fab, '-batch', '-'], [
    'link set lo up', 'link add under type bridge', 'link set under up',
    'link add prov type bridge', 'link set prov up', 'addr add 198.51.100.1/24 dev prov', 'addr add 192.0.2.1/24 dev under',
  ].join('\n') + '\n');
  const data = join(a.sb.dir, 'etcd');
  const etcd = execa('ip', ['netns', 'exec', fab, 'etcd', '--name', 'fab', '--data-dir', data,
    '--listen-client-urls', ETCD, '--advertise-client-urls', ETCD,
    '--listen-peer-urls', 'http://192.0.2.1:2380', '--initial-advertise-peer-urls', 'http://192.0.2.1:2380', '--initial-cluster', 'fab=http://192.0.2.1:2380'],
  { reject: false, stdout: { file: `${data}.log` }, stderr: { file: `${data}.log` } });
  a.sb.children.push(etcd);
  await until('etcd answers', async () => (await sh('ip', ['netns', 'exec', fab, 'etcdctl', '--endpoints', ETCD, 'endpoint', 'health'])).exitCode === 0, 20_000);
  await wire(a, 'a', '192.0.2.11');
  await wire(b, 'b', '192.0.2.12');
  net.name = `${a.sb.id}-st`;
  net.bridge = `${a.sb.id}-n`;
  xml = hookData(networkXml({
    ...net,
    upstream: `<natns:upstream bridge="br0" address="${UPSTREAM}" prefix="24" gateway="198.51.100.1"/>
      <natns:dhcp start="10.0.0.100" end="10.0.0.199"/>
      <natns:vxlan vni="${VNI}" remotes="192.0.2.11 192.0.2.12" dev="eth1"/>`,
  }));
}, 60_000);

afterAll(async () => {
  for (const agent of agents.values()) agent.kill('SIGKILL');
  for (const h of [a, b]) {
    if (!h) continue;
    await h.run(['ip', 'link', 'del', net.bridge]);
    await h.hook([net.name, 'stopped', 'end', '-'], xml);
    await h.cleanup().catch((e: unknown) => console.error(e));
  }
  await sh('ip', ['netns', 'del', fab]);
});

test('a stretched network refuses to start without the agent, in words', async () => {
  const r = await a.hook([net.name, 'start', 'begin', '-'], xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^natns: .*network '${net.name}' is stretched \\(<natns:vxlan>\\) and needs 'natns agent' running on this host .*start the network again$`));
  expect(await a.run(['ip', 'netns', 'list'])).toMatchObject({ stdout: '' });
});

test('both hosts build the stretch: a VXLAN device on the bridge, static remotes, 50 bytes under the underlay; one router active', async () => {
  startAgent(a);
  await until('agent A runs', async () => (await a.cli(['agent', 'status'])).exitCode === 0);
  await netStart(a);
  await until('A is active', () => isActive(a));
  startAgent(b);
  await until('agent B runs', async () => (await b.cli(['agent', 'status'])).exitCode === 0);
  await netStart(b);
  const vx = hostDeviceNames(net.uuid).vxlan;
  for (const [host, local, remote] of [[a, '192.0.2.11', '192.0.2.12'], [b, '192.0.2.12', '192.0.2.11']] as const) {
    const dev = (await links(host)).find((l) => l.ifname === vx);
    expect(dev).toMatchObject({ mtu: 1450, master: net.bridge, linkinfo: { info_kind: 'vxlan', info_data: { id: VNI, local } } });
    const fdb = JSON.parse(await host.must(['bridge', '-j', 'fdb', 'show', 'dev', vx])) as { mac: string; dst?: string; state?: string }[];
    expect(fdb.filter((e) => e.state === 'permanent' && e.dst).map((e) => `${e.mac} ${e.dst}`)).toEqual([`00:00:00:00:00:00 ${remote}`]);
    const lan = (await links(host, namespaceName(net.name))).find((l) => l.ifname === 'lan');
    expect(lan?.mtu).toBe(1450);
    // Built to plan: a second `started` changes nothing, and check finds nothing to say.
    expect((await host.hook([net.name, 'started', 'begin', '-'], xml)).exitCode).toBe(0);
    const check = await host.cli(['check', net.name]);
    expect(`${check.stdout}${check.stderr}`).not.toMatch(/nnx-|VXLAN|floods/);
  }
  await new Promise((r) => setTimeout(r, 1000));
  if (!(await isActive(a))) console.log(await b.must(['cat', join(a.sb.dir, 'agent.log'), join(b.sb.dir, 'agent.log')]));
  expect([await isActive(a), await isActive(b)]).toEqual([true, false]);
  const status = JSON.parse((await b.cli(['agent', 'status', '--json'])).stdout) as { networks: { active: boolean; host: string }[] };
  expect(status.networks).toMatchObject([{ active: false, host: 'kvm-a' }]);
});

test('guests on either host get the VXLAN MTU by DHCP and reach upstream through the one active router, as its upstream address', async () => {
  const recorder = await a.sb.recorder(fab, 8300);
  await a.guest('ga', net.bridge);
  await b.guest('gb', net.bridge);
  const ga = await a.dhcp('ga');
  const gb = await b.dhcp('gb');
  expect(ga.address).toMatch(/^10\.0\.0\.1\d\d$/);
  expect(gb.address).toMatch(/^10\.0\.0\.1\d\d$/);
  expect(gb.address).not.toBe(ga.address);
  expect([ga.mtu, gb.mtu]).toEqual([1450, 1450]);
  for (const [host, g] of [[a, 'ga'], [b, 'gb']] as const) {
    const said = await host.must(['ip', 'netns', 'exec', g, process.execPath, join(repoRoot, 'test', 'helpers', 'connect.mjs'), '198.51.100.1', '8300']);
    expect(said.trim()).toBe(`hello ${UPSTREAM}`);
  }
  expect(recorder.sources()).toEqual([UPSTREAM, UPSTREAM]);
});

/** iperf3 from a guest to the upstream host; the receiver's bits per second and bytes. */
async function throughput(host: SimHost, guest: string, port: number, seconds = 3): Promise<{ bps: number; bytes: number }> {
  const server = execa('ip', ['netns', 'exec', fab, 'iperf3', '-s', '-1', '-p', String(port)], { reject: false });
  a.sb.children.push(server);
  await new Promise((r) => setTimeout(r, 300));
  const r = await host.run(['ip', 'netns', 'exec', guest, 'iperf3', '-c', '198.51.100.1', '-p', String(port), '-t', String(seconds), '-J']);
  server.kill('SIGKILL');
  await server;
  const report = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number; bytes: number } } };
  return { bps: report.end?.sum_received?.bits_per_second ?? 0, bytes: report.end?.sum_received?.bytes ?? 0 };
}

/** IPv4 fragments this host's own stack made (the underlay's outer packets included). */
async function fragCreates(host: SimHost): Promise<number> {
  const lines = (await host.must(['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Ip:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('FragCreates')]);
}

test('a full-size TCP transfer crosses the stretch unfragmented; throughput against the same router without VXLAN', async () => {
  const plain = await throughput(a, 'ga', 8301);
  const before = await fragCreates(b);
  const stretched = await throughput(b, 'gb', 8302);
  const fragments = (await fragCreates(b)) - before;
  // Without the DHCP-given MTU the guest sends 1500-byte frames: they still arrive, but host B
  // fragments every outer VXLAN packet on the underlay, which is what the MTU avoids.
  await b.must(['ip', '-n', 'gb', 'link', 'set', 'eth0', 'mtu', '1500']);
  const before1500 = await fragCreates(b);
  const at1500 = await throughput(b, 'gb', 8303, 2);
  const fragments1500 = (await fragCreates(b)) - before1500;
  const learned = (await b.must(['ip', '-n', 'gb', 'route', 'get', '198.51.100.1'])).replace(/\s+/g, ' ').trim();
  await b.must(['ip', '-n', 'gb', 'link', 'set', 'eth0', 'mtu', '1450']);
  const gbit = (x: { bps: number }) => (x.bps / 1e9).toFixed(2);
  console.log(`iperf3 to upstream through host A's router: guest on A (no VXLAN) ${gbit(plain)} Gbit/s; guest on B over VXLAN at the DHCP MTU 1450 ${gbit(stretched)} Gbit/s (${fragments} fragments); at MTU 1500 ${gbit(at1500)} Gbit/s (${fragments1500} fragments; guest's route afterwards: ${learned})`);
  expect(plain.bps).toBeGreaterThan(10e6);
  expect(stretched.bytes).toBeGreaterThan(10e6);
  expect(fragments).toBe(0);
});

/** Both routers' states every 30 ms until stopped: the moments both were active. */
function watchBoth(): { stop: () => Promise<number> } {
  let running = true;
  let both = 0;
  const loop = (async () => {
    while (running) {
      const [x, y] = await Promise.all([isActive(a), isActive(b)]);
      if (x && y) both++;
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  return { stop: async () => { running = false; await loop; return both; } };
}

test('the active agent dies: the other host takes over within 3 s (median of 3), never two active', async () => {
  const gaps: number[] = [];
  for (let run = 0; run < 3; run++) {
    const victim = (await isActive(a)) ? a : b;
    const heir = victim === a ? b : a;
    const guest = heir === a ? 'ga' : 'gb';
    expect(await isActive(heir)).toBe(false);
    const watch = watchBoth();
    const t0 = Date.now();
    agents.get(victim)!.kill('SIGKILL');
    await until('the dead agent\'s router is down', async () => !(await isActive(victim)), 2000);
    const ok = Number(await heir.must(['ip', 'netns', 'exec', guest, process.execPath, join(repoRoot, 'test', 'helpers', 'prober.mjs'), '198.51.100.1', '8300']));
    gaps.push(ok - t0);
    expect(await isActive(heir)).toBe(true);
    expect(await watch.stop()).toBe(0);
    startAgent(victim);
    await until('the restarted agent runs', async () => (await victim.cli(['agent', 'status'])).exitCode === 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(await isActive(victim)).toBe(false);
  }
  gaps.sort((x, y) => x - y);
  console.log(`failover gaps (agent SIGKILL to a guest on the other host reaching upstream): ${gaps.join(', ')} ms; median ${gaps[1]} ms`);
  expect(gaps[1]).toBeLessThanOrEqual(3000);
  const status = JSON.parse((await a.cli(['agent', 'status', '--json'])).stdout) as { networks: { host: string; since: string }[] };
  expect(status.networks[0]!.host).toBe((await isActive(a)) ? 'kvm-a' : 'kvm-b');
  for (const h of [a, b]) {
    const [row] = JSON.parse((await h.cli(['list', '--json'])).stdout) as { state: string; stretch: { vni: number; active: boolean; host: string; since: string } }[];
    expect(row!.stretch).toMatchObject({ vni: VNI, active: await isActive(h), host: status.networks[0]!.host });
    // Active or standing by (sides down, no routes, no DHCP), each router is as planned.
    expect(row!.state).toBe('up');
    expect(Date.parse(row!.stretch.since)).toBeGreaterThan(Date.now() - 60_000);
  }
});

/** A guest's MAC and IPv4 address. */
async function guestOf(host: SimHost, guest: string): Promise<{ mac: string; address: string }> {
  const [link] = JSON.parse(await host.must(['ip', '-n', guest, '-j', 'addr', 'show', 'dev', 'eth0'])) as { address: string; addr_info: { family: string; local: string }[] }[];
  return { mac: link!.address, address: link!.addr_info.find((i) => i.family === 'inet')?.local ?? '' };
}

test('DHCP moves with the active router: the new one knows every lease the old one gave, and offers none of them again', async () => {
  const active = (await isActive(a)) ? a : b;
  const ga = await guestOf(a, 'ga');
  const gb = await guestOf(b, 'gb');
  // Both leases were handed out before the failovers, by whichever router was active then.
  const leases = readFileSync(join(active.sb.env.NATNS_STATE_DIR!, 'dhcp', net.uuid, 'leases'), 'utf8');
  expect(leases).toContain(`${ga.mac} ${ga.address} `);
  expect(leases).toContain(`${gb.mac} ${gb.address} `);
  // A guest that does not answer (so dnsmasq's ping check cannot save it) still keeps its address:
  // a new client asking for exactly that address is given another one.
  await a.must(['ip', '-n', 'ga', 'link', 'set', 'eth0', 'down']);
  try {
    await active.guest('gc', net.bridge);
    await active.must(['ip', 'netns', 'exec', 'gc', 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '2', '-r', ga.address, '-s', join(repoRoot, 'src', 'lab', 'udhcpc.sh')]);
    const gc = await guestOf(active, 'gc');
    expect(gc.address).toMatch(/^10\.0\.0\.1\d\d$/);
    expect([ga.address, gb.address]).not.toContain(gc.address);
  } finally {
    await active.run(['ip', 'netns', 'del', 'gc']);
    await a.must(['ip', '-n', 'ga', 'link', 'set', 'eth0', 'up']);
  }
});

test('the active host loses etcd: it demotes itself, the other takes over, never two active', async () => {
  const cut = (await isActive(a)) ? a : b;
  const other = cut === a ? b : a;
  const watch = watchBoth();
  await cut.must(['nft', '-f', '-'], 'table ip nnpart {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr 192.0.2.1 tcp dport 2379 drop\n }\n}\n');
  try {
    await until('the cut-off host demotes', async () => !(await isActive(cut)), 5000);
    await until('the other host takes over', () => isActive(other), 5000);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await cut.run(['nft', 'delete', 'table', 'ip', 'nnpart']);
  }
  // Back on etcd, it stays on standby: the election is held.
  await new Promise((r) => setTimeout(r, 2000));
  expect([await isActive(cut), await isActive(other)]).toEqual([false, true]);
  expect(await watch.stop()).toBe(0);
});

test('net-destroy removes the VXLAN device with the router', async () => {
  const vx = hostDeviceNames(net.uuid).vxlan;
  await a.run(['ip', 'netns', 'del', 'ga']);
  await a.must(['ip', 'link', 'del', net.bridge]);
  const r = await a.hook([net.name, 'stopped', 'end', '-'], xml);
  expect(r.exitCode).toBe(0);
  const left = (await links(a)).map((l) => l.ifname).filter((n) => Object.values(hostDeviceNames(net.uuid)).includes(n));
  expect(left).toEqual([]);
  expect(await a.run(['ip', 'netns', 'list'])).toMatchObject({ stdout: '' });
  // B keeps its own.
  expect((await links(b)).some((l) => l.ifname === vx)).toBe(true);
});
