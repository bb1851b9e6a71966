import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { linkLocalFromMac } from '../../src/domain/address.js';
import { namespaceName, routerMac } from '../../src/domain/names.js';
import { nftReplaceScript, planRouter, type RouterInput } from '../../src/plan/router.js';
import { defineNet, domainXml, dualStackSandbox, expectStarted, netDestroy, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * Dual stack against the real kernel: networks that share 10.0.0.0/24 and fd00::/64 each reach
 * an IPv6 upstream host from an upstream IPv6 address of their own, as they do over IPv4.
 */
const here = dirname(fileURLToPath(import.meta.url));
let sb: Sandbox;
let provider: string;
let upstream: string;

beforeEach(async () => {
  ({ sb, provider, upstream } = await dualStackSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

interface Mapping {
  network: string; state: string; private: string; private6?: string;
  upstream: { address: string }; upstream6?: { address: string; prefix: number; bridge: string; gateway: string; pool?: string; mode: string };
}

async function list(): Promise<Mapping[]> {
  const r = await sb.cli(['list', '--json']);
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout);
}

/** Every lease file in the sandbox's state: what a refusal must leave empty. */
function leaseFiles(): string[] {
  try {
    return readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases'), { recursive: true, encoding: 'utf8' }).filter((f) => !f.includes('.owners'));
  } catch {
    return [];
  }
}

function logLines(): Record<string, unknown>[] {
  return readFileSync(join(sb.env.NATNS_LOG_DIR!, 'natns.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function spawnUdp6(ns: string, port: number): Promise<void> {
  return sb.spawnReady(ns, process.execPath, [join(here, '..', 'helpers', 'udp-echo.mjs'), String(port), '-6']);
}

async function udp(ns: string, address: string, port: number): Promise<string | undefined> {
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, join(here, '..', 'helpers', 'udp-echo.mjs'), address, String(port)]);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** A guest namespace on the network's bridge with 10.0.0.100 and fd00::100, both routed via the router. */
async function guest(net: TestNet, suffix: string): Promise<string> {
  const ns = await sb.host(suffix, net.bridge, '10.0.0.100/24', '10.0.0.1');
  await sb.ipv6(ns, 'fd00::100/64', 'fd00::1');
  return ns;
}

test('two dual-stack networks with the same 10.0.0.0/24 and fd00::/64 reach an IPv6 upstream host from two distinct upstream IPv6 addresses, over TCP, UDP and ICMPv6; IPv4 unchanged', async () => {
  const tcp4 = await sb.recorder(upstream, 8080);
  const tcp6 = await sb.recorder(upstream, 8080, '', '::');
  await sb.spawnReady(upstream, process.execPath, [join(here, '..', 'helpers', 'udp-echo.mjs'), '5353', '-6']);
  const nets = [defineNet(sb, '1', { ipv6: {} }), defineNet(sb, '2', { ipv6: {} })];
  const guests: string[] = [];
  for (const [i, net] of nets.entries()) {
    await expectStarted(sb, net);
    guests.push(await guest(net, `g${i + 1}`));
  }
  const mappings = await list();
  expect(mappings.map((m) => [m.state, m.private, m.private6])).toEqual([['up', '10.0.0.1/24', 'fd00::1/64'], ['up', '10.0.0.1/24', 'fd00::1/64']]);
  expect(mappings.map((m) => m.upstream6)).toEqual([
    { address: '2001:db8:100::100', prefix: 64, bridge: provider, gateway: '2001:db8:100::1', pool: 'default6', mode: 'nat66' },
    { address: '2001:db8:100::101', prefix: 64, bridge: provider, gateway: '2001:db8:100::1', pool: 'default6', mode: 'nat66' },
  ]);
  for (const [i, g] of guests.entries()) {
    const up6 = mappings[i]!.upstream6!.address;
    expect(await sb.ping(g, '2001:db8:100::1')).toBe(true);
    expect(await sb.connect(g, '2001:db8:100::1', 8080)).toBe(`hello ${up6}`);
    expect(await udp(g, '2001:db8:100::1', 5353)).toBe(`echo ${up6}`);
    // IPv4 beside it, as before.
    expect(await sb.connect(g, '198.51.100.1', 8080)).toBe(`hello ${mappings[i]!.upstream.address}`);
  }
  expect(tcp6.sources()).toEqual(mappings.map((m) => m.upstream6!.address));
  expect(tcp4.sources()).toEqual(mappings.map((m) => m.upstream.address));

  // A fresh dual-stack start spawns what an IPv4 one does (five short processes), and its dnsmasq.
  const starts = logLines().filter((l) => l.message === 'network started begin');
  expect(starts.map((l) => l.processes)).toEqual([6, 6]);

  // Idempotent: the second start finds both tables, the IPv6 addresses, routes and sysctls as planned.
  const again = await sb.hook([nets[0]!.name, 'started', 'begin', '-'], nets[0]!.xml);
  expect({ code: again.exitCode, err: again.stderr }).toEqual({ code: 0, err: '' });
  expect(logLines().filter((l) => l.message === 'network started begin').pop()!.changes).toBe(0);
  const show = JSON.parse((await sb.cli(['show', nets[0]!.name, '--json'])).stdout);
  expect(show.differences).toEqual([]);

  for (const net of nets) expect((await netDestroy(sb, net)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
  // Stopped and started again, a network keeps its IPv6 address too.
  await expectStarted(sb, nets[1]!);
  expect((await list()).find((m) => m.network === nets[1]!.name)!.upstream6!.address).toBe('2001:db8:100::101');
});

test('an IPv4-only network beside dual-stack ones has no ip6 table and no IPv6 address', async () => {
  const v4 = defineNet(sb, '4');
  const dual = defineNet(sb, '6', { ipv6: {} });
  await expectStarted(sb, v4);
  await expectStarted(sb, dual);
  const tables = async (net: TestNet) => (await sh('ip', ['netns', 'exec', namespaceName(net.name), 'nft', 'list', 'tables'])).stdout.trim().split('\n');
  expect(await tables(v4)).toEqual(['table ip natns']);
  expect((await tables(dual)).sort()).toEqual(['table ip natns', 'table ip6 natns']);
  const v6addrs = (await sh('ip', ['-n', namespaceName(v4.name), '-6', '-j', 'addr', 'show', 'scope', 'global'])).stdout;
  expect(JSON.parse(v6addrs).flatMap((l: { addr_info: unknown[] }) => l.addr_info)).toEqual([]);
  expect((await list()).find((m) => m.network === v4.name)).not.toHaveProperty('upstream6');
});

test('drift in the IPv6 side is found and repaired: a lost address, route, sysctl and table', async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  const ns = namespaceName(net.name);
  await sh('ip', ['-n', ns, 'addr', 'del', '2001:db8:100::100/64', 'dev', 'wan']);
  await sh('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', 'fe80::99', 'dev', 'wan', 'metric', '10']);
  await sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.wan.accept_ra=1']);
  await sh('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip6', 'natns']);
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.differences).toEqual([
    'wan lacks 2001:db8:100::100/64',
    'route default via fe80::99 dev wan is not in the plan',
    'sysctl net.ipv6.conf.wan.accept_ra is 1, want 0',
    'nft table ip6 natns is missing',
  ]);
  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
});

test.each([
  ['an IPv6 pool on the IPv4 element', 'v4:<natns:upstream pool="default6"/>', /upstream pool 'default6' is IPv6 \(2001:db8:100::\/64\), but the <upstream> naming it serves the IPv4 <private> 10.0.0.1\/24; name an IPv4 pool/],
  ['an IPv4 pool on the IPv6 element', '<natns:upstream pool="default"/>', /upstream pool 'default' is IPv4 \(198.51.100.0\/24\), but the <upstream> naming it serves the IPv6 <private> fd00::1\/64; name an IPv6 pool/],
  ['a pool of addresses for NPTv6', '<natns:upstream pool="default6" mode="nptv6"/>', /upstream pool 'default6' hands out single addresses, but mode="nptv6" needs a pool of routed prefixes/],
  ['an IPv6 upstream on another bridge', '<natns:upstream bridge="tstnobr0" address="2001:db8:100::120" prefix="64" gateway="fe80::1"/>', /the IPv6 upstream is on bridge tstnobr0 but the IPv4 one on tst[0-9a-f]+-pb: a router has one upstream side/],
])('refused at start begin: %s, in one line, with nothing leased or built', async (_what, upstream6, message) => {
  // An IPv6 pool on the IPv4 element is given with the IPv4 element itself.
  const net = upstream6.startsWith('v4:')
    ? defineNet(sb, '1', { upstream: upstream6.slice(3), ipv6: {} })
    : defineNet(sb, '1', { ipv6: { upstream: upstream6 } });
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(await list()).toEqual([]);
  expect(leaseFiles()).toEqual([]);
  expect(await sb.leftovers()).toEqual([]);
});

/** The guest's IPv6 addresses on eth0 of one scope, without prefix lengths. */
async function addresses6(ns: string, scope = 'global'): Promise<{ local: string; dynamic?: boolean }[]> {
  const out = JSON.parse((await sh('ip', ['-n', ns, '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', scope])).stdout || '[]') as { addr_info: { local: string; dynamic?: boolean }[] }[];
  return out.flatMap((l) => l.addr_info);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    const v = await fn();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('guest addressing: SLAAC from the router advertisements, a DHCPv6 reservation from the guest metadata, DNS on the IPv6 gateway', async () => {
  const tcp6 = await sb.recorder(upstream, 8080, '', '::');
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  // A guest that takes router advertisements configures itself: an address of fd00::/64 from its MAC, and the default route.
  const mac = '52:54:00:dd:00:01';
  const g = await sb.host('g1', net.bridge, '', undefined, mac);
  await sb.ipv6(g, '', undefined, true);
  const slaac = await until('a SLAAC address', async () => (await addresses6(g)).find((a) => a.dynamic && a.local.startsWith('fd00::')));
  expect(slaac.local).toBe('fd00::5054:ff:fedd:1');
  const routes = JSON.parse((await sh('ip', ['-n', g, '-6', '-j', 'route', 'show', 'default'])).stdout) as { gateway: string; protocol: string }[];
  expect(routes).toEqual([expect.objectContaining({ gateway: linkLocalFromMac(routerMac(net.uuid, 'lan')), protocol: 'ra' })]);
  const up6 = (await list())[0]!.upstream6!.address;
  expect(await sb.connect(g, '2001:db8:100::1', 8080)).toBe(`hello ${up6}`);
  expect(tcp6.sources()).toEqual([up6]);

  // DHCPv6 serves reserved guests only: nothing for this one yet, then its reservation.
  const solicit = async () => JSON.parse((await sh('ip', ['netns', 'exec', g, process.execPath, join(here, '..', 'helpers', 'dhcp6.mjs'), 'eth0', mac])).stdout || 'null');
  expect((await solicit()).address).toBeNull();
  const name = sb.name('vm1');
  const r = await sb.qemuHook([name, 'start', 'begin', '-'], domainXml({ name, uuid: randomUUID(), network: net.name, mac, metadata: `<natns:address network="${net.name}" ip="fd00::100"/>` }));
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
  expect(await solicit()).toEqual({ address: 'fd00::100', dns: ['fd00::1'] });

  // DNS answers on the IPv6 gateway, from the guests' side only.
  const dns = await sh('ip', ['netns', 'exec', g, process.execPath, join(here, '..', 'helpers', 'dns-chaos.mjs'), 'fd00::1']);
  expect(dns.stdout).toMatch(/^dnsmasq-/);
  const fromUpstream = await sh('ip', ['netns', 'exec', upstream, process.execPath, join(here, '..', 'helpers', 'dns-chaos.mjs'), up6]);
  expect(fromUpstream.exitCode).toBe(1);
});

test('every shape of the ip6 table natns renders is exactly what nft lists back, stateless as natns observes it (NAT66 with everything, NPTv6 with a proxy)', async () => {
  const ns = await sb.host('sc', provider, '');
  const base: RouterInput = {
    network: {
      name: 'shapes', uuid: '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10', bridge: 'virbr10', private: { address: '10.0.0.1', prefix: 24 }, private6: { address: 'fd00::1', prefix: 64 },
      inputs: [{ proto: 'tcp', ports: [22, 8080], from: 'wan' }, { proto: 'udp', ports: [161], from: 'any' }, { proto: 'tcp', ports: [2222], from: 'lan' }],
      tproxy: { proto: 'tcp', ports: [80, 443], toPort: 3128, mark: 1, table: 100 },
    },
    lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
    lease6: { bridge: 'br0', address: '2001:db8:100::100', prefix: 64, gateway: 'fe80::1', mode: 'nat66' },
    mtu: { lan: 1500, wan: 1500 },
    hostAddresses: ['2001:db8:100::2', '2001:db8:100::3', 'fe80::9'],
    forwards: [
      { owner: 'guest-a', proto: 'tcp', port: 8080, to: 'fd00::100', toPort: 80 }, { owner: 'admin', proto: 'udp', port: 5353, to: 'fd00::101', toPort: 53 },
    ],
    oneToOne: [{ owner: 'guest-a', private: 'fd00::100', public: '2001:db8:100::150' }, { owner: 'guest-b', private: 'fd00::101', public: '2001:db8:100::151' }],
  };
  const nptv6: RouterInput = { ...base, lease6: { bridge: 'br0', address: '2001:db8:200:1::', prefix: 64, gateway: '2001:db8:100::1', mode: 'nptv6' }, forwards: [], oneToOne: [] };
  for (const input of [base, nptv6]) {
    const plan = planRouter(input);
    const load = await sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], nftReplaceScript(plan));
    expect(load.stderr).toBe('');
    expect((await sh('ip', ['netns', 'exec', ns, 'nft', '-s', 'list', 'table', 'ip6', 'natns'])).stdout + '\n').toBe(plan.nft6);
  }
});

test('an IPv6-only network: guests configure themselves by SLAAC and reach the upstream host from the network\'s upstream IPv6 address; no IPv4 anywhere in its router', async () => {
  const tcp6 = await sb.recorder(upstream, 8080, '', '::');
  await spawnUdp6(upstream, 5353);
  const net = defineNet(sb, '1', {
    upstream: '<natns:upstream pool="default6"/>',
  });
  net.xml = net.xml.replace('<natns:private address="10.0.0.1" prefix="24"/>', '<natns:private address="fd00::1" prefix="64"/>');
  await expectStarted(sb, net);
  const m = (await list()).find((x) => x.network === net.name)!;
  expect(m).toMatchObject({ private6: 'fd00::1/64', upstream6: { address: '2001:db8:100::100', mode: 'nat66' } });
  expect(m).not.toHaveProperty('private');
  expect(m).not.toHaveProperty('upstream');
  const g = await sb.host('g1', net.bridge, '', undefined, '52:54:00:dd:06:01');
  await sb.ipv6(g, '', undefined, true);
  await until('a SLAAC address', async () => (await addresses6(g)).find((a) => a.dynamic && a.local.startsWith('fd00::')));
  expect(await sb.connect(g, '2001:db8:100::1', 8080)).toBe('hello 2001:db8:100::100');
  expect(await udp(g, '2001:db8:100::1', 5353)).toBe('echo 2001:db8:100::100');
  expect(await sb.ping(g, '2001:db8:100::1')).toBe(true);
  expect(tcp6.sources()).toEqual(['2001:db8:100::100']);
  const ns = namespaceName(net.name);
  expect((await sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'])).stdout.trim()).toBe('table ip6 natns');
  expect((await sh('ip', ['-n', ns, '-4', 'addr', 'show', 'scope', 'global'])).stdout).toBe('');
  expect((await sh('ip', ['-n', ns, '-4', 'route', 'show'])).stdout).toBe('');
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
  expect((await sb.cli(['list', '--wide'])).stdout).toMatch(new RegExp(`${net.name} .* - +- +fd00::1/64 +2001:db8:100::100/64 `));
  // In 80 columns an IPv6-only network shows its IPv6 side.
  expect((await sb.cli(['list'])).stdout).toMatch(new RegExp(`${net.name} +\\S+ +fd00::1/64 +2001:db8:100::100/64 +up$`, 'm'));
  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
});

test('a running router converges in place when its network changes family: IPv4, IPv6-only, dual stack and back', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const v6only = net.xml.replace('<natns:private address="10.0.0.1" prefix="24"/>', '<natns:private address="fd00::1" prefix="64"/>')
    .replace('<natns:upstream pool="default"/>', `<natns:upstream bridge="${provider}" address="2001:db8:100::120" prefix="64" gateway="fe80::1"/>`);
  const dual = net.xml.replace('<natns:upstream pool="default"/>', '<natns:private address="fd00::1" prefix="64"/><natns:upstream pool="default"/><natns:upstream pool="default6"/>');
  for (const xml of [v6only, dual, net.xml, dual, v6only, net.xml]) {
    const r = await sb.hook([net.name, 'started', 'begin', '-'], xml);
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
  }
  // Back to IPv4 only: no IPv6 lease is kept, and the router holds no IPv6 address.
  expect(leaseFiles().filter((f) => f.includes('/'))).toEqual([`${provider}/198.51.100.100`]);
  expect((await sh('ip', ['-n', namespaceName(net.name), '-6', 'addr', 'show', 'scope', 'global'])).stdout).toBe('');
  expect((await sh('ip', ['netns', 'exec', namespaceName(net.name), 'nft', 'list', 'tables'])).stdout.trim()).toBe('table ip natns');
});

test('a dual-stack network with macvlan patches reaches the upstream host over IPv6 as over IPv4', async () => {
  const tcp6 = await sb.recorder(upstream, 8080, '', '::');
  const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:patch type="macvlan"/>', ipv6: {} });
  await expectStarted(sb, net);
  const g = await guest(net, 'g1');
  expect(await sb.connect(g, '2001:db8:100::1', 8080)).toBe('hello 2001:db8:100::100');
  expect(await sb.ping(g, '2001:db8:100::1')).toBe(true);
  expect(tcp6.sources()).toEqual(['2001:db8:100::100']);
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
});
