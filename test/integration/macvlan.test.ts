import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { defineNet, expectStarted, netDestroy, poolConfig, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * `<natns:patch type="macvlan"/>`: the namespace joins both bridges with macvlans instead of veth
 * pairs (one hop less per packet). Same guarantees as the veth patch, through the real hook.
 */
let sb: Sandbox;
let provider: string;
let upstream: string;

beforeEach(async () => {
  ({ sb, provider, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

const MACVLAN = '<natns:upstream pool="default"/><natns:patch type="macvlan"/><natns:dhcp start="10.0.0.150" end="10.0.0.159"/>';
const define = (suffix: string): TestNet => defineNet(sb, suffix, { upstream: MACVLAN });

async function mappings(): Promise<{ network: string; state: string; upstream: { address: string } }[]> {
  return JSON.parse((await sb.cli(['list', '--json'])).stdout);
}

async function kinds(ns: string): Promise<Record<string, string | undefined>> {
  const links = JSON.parse((await sh('ip', ['-n', ns, '-d', '-j', 'link', 'show'])).stdout) as { ifname: string; linkinfo?: { info_kind?: string } }[];
  return Object.fromEntries(links.filter((l) => l.ifname !== 'lo').map((l) => [l.ifname, l.linkinfo?.info_kind]));
}

test('two same-subnet networks on macvlans reach upstream from their own addresses, guests get DHCP, and a quick restart works', async () => {
  const recorder = await sb.recorder(upstream, 8080);
  const nets = [define('1'), define('2')];
  const guests: string[] = [];
  for (const [i, net] of nets.entries()) {
    await expectStarted(sb, net);
    const g = await sb.host(`g${i + 1}`, net.bridge, '');
    expect(await sb.dhcp(g)).toMatch(/^10\.0\.0\.15\d$/);
    await sh('ip', ['-n', g, 'route', 'replace', 'default', 'via', '10.0.0.1']);
    guests.push(g);
  }
  for (const net of nets) {
    expect(await kinds(namespaceName(net.name))).toEqual({ lan: 'macvlan', wan: 'macvlan' });
    for (const dev of Object.values(hostDeviceNames(net.uuid))) expect((await sh('ip', ['link', 'show', 'dev', dev])).exitCode).not.toBe(0);
  }
  for (const g of guests) expect(await sb.connect(g, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d/);
  const list = await mappings();
  expect(list.map((m) => m.state)).toEqual(['up', 'up']);
  expect([...recorder.sources()].sort()).toEqual(list.map((m) => m.upstream.address).sort());

  // Converged: a second start and `natns show` find nothing to change.
  expect((await sb.hook([nets[0]!.name, 'started', 'begin', '-'], nets[0]!.xml)).exitCode).toBe(0);
  expect(JSON.parse((await sb.cli(['show', nets[0]!.name, '--json'])).stdout).differences).toEqual([]);

  // Stop and start at once: the old namespace's macvlan (same MAC, same lower) must not be in the way.
  const before = list.find((m) => m.network === nets[0]!.name)!.upstream.address;
  expect((await netDestroy(sb, nets[0]!)).exitCode).toBe(0);
  await expectStarted(sb, nets[0]!);
  expect((await mappings()).find((m) => m.network === nets[0]!.name)!.upstream.address).toBe(before);

  for (const net of nets) expect((await netDestroy(sb, net)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
});

test('drift is found and repaired: a deleted wan macvlan comes back on the next start', async () => {
  const net = define('1');
  await expectStarted(sb, net);
  const ns = namespaceName(net.name);
  await sh('ip', ['-n', ns, 'link', 'del', 'wan']);
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout) as { differences: string[] };
  expect(show.differences).toContain('macvlan wan (on ' + provider + ') is missing');
  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  expect(await kinds(ns)).toEqual({ lan: 'macvlan', wan: 'macvlan' });
  expect(await sb.ping(namespaceName(net.name), '198.51.100.1')).toBe(true);
});

test('a pool that lets guests reach the host is refused for a macvlan network, in words, before anything is built', async () => {
  sb.writeConfig(poolConfig(provider, { hostAccess: 'allow' }));
  const net = define('1');
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/"hostAccess": "allow", which a macvlan patch cannot give.*patch type="veth"/)]);
  expect(await mappings()).toEqual([]);
  expect(await sb.leftovers()).toEqual([]);
});

test('the host is out of its guests\' reach without any guard rule, and a start spawns one process less', async () => {
  await sh('ip', ['addr', 'add', '198.51.100.2/24', 'dev', provider]);
  const server = createServer((s) => s.end('host\n'));
  await new Promise<void>((r) => server.listen(8081, '198.51.100.2', () => r()));
  try {
    await sb.recorder(upstream, 8080);
    const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:patch type="macvlan"/>' });
    await expectStarted(sb, net);
    const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
    expect(await sb.reaches(g, '198.51.100.1', 8080)).toBe(true);
    expect(await sb.reaches(g, '198.51.100.2', 8081)).toBe(false);
    const nft = (await sh('ip', ['netns', 'exec', namespaceName(net.name), 'nft', 'list', 'table', 'ip', 'natns'])).stdout;
    expect(nft).not.toContain('198.51.100.2');
    const log = readFileSync(join(sb.env.NATNS_LOG_DIR!, 'natns.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // host ip batch, then side by side the namespace's ip batch, sysctl and nft -f: no address query.
    expect(log.find((l) => l.message === 'network started begin').processes).toBe(4);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
