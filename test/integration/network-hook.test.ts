import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { repoRoot, type Sandbox, sh } from '../helpers/sandbox.js';
import { defineNet, netDestroy as destroyNet, netStart as startNet, poolSandbox, type TestNet } from '../helpers/hooknet.js';

/**
 * The network hook against the real kernel: the test plays libvirt (creates the network's
 * bridge between `start begin` and `started`, deletes it before `stopped`), and test namespaces
 * play the guests and the upstream host.
 */

let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const define = (suffix: string, upstream?: string): TestNet => defineNet(sb, suffix, upstream ? { upstream } : {});
const netStart = (net: TestNet) => startNet(sb, net);
const netDestroy = (net: TestNet) => destroyNet(sb, net);

async function list(): Promise<{ network: string; state: string; upstream: { address: string } }[]> {
  const r = await sb.cli(['list', '--json']);
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout);
}

function logLines(): Record<string, unknown>[] {
  return readFileSync(join(sb.env.NATNS_LOG_DIR!, 'natns.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('three networks with the same subnet reach upstream from three different addresses, and leave nothing behind', async () => {
  const upstream = await sb.host('up', provider, '198.51.100.1/24');
  const recorder = await sb.recorder(upstream, 8080);
  const nets = ['1', '2', '3'].map((n) => define(n));
  for (const [i, net] of nets.entries()) {
    const r = await netStart(net);
    expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    await sb.host(`g${i + 1}`, net.bridge, '10.0.0.100/24', '10.0.0.1');
  }
  for (const [i] of nets.entries()) {
    const guest = sb.name(`g${i + 1}`);
    expect(await sb.ping(guest, '198.51.100.1')).toBe(true);
    expect(await sb.connect(guest, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d/);
  }
  const mappings = await list();
  expect(mappings.map((m) => m.state)).toEqual(['up', 'up', 'up']);
  const leased = mappings.map((m) => m.upstream.address).sort();
  expect(leased).toEqual(['198.51.100.100', '198.51.100.101', '198.51.100.102']);
  expect([...recorder.sources()].sort()).toEqual(leased);

  // A fresh start spawns five short processes: the upstream bridge's addresses, the host ip
  // batch, then side by side the namespace's ip batch, sysctl and nft -f.
  const starts = logLines().filter((l) => l.message === 'network started begin');
  expect(starts.map((l) => l.processes)).toEqual([5, 5, 5]);

  for (const net of nets) expect((await netDestroy(net)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
  expect((await list()).map((m) => m.state)).toEqual(['stopped', 'stopped', 'stopped']);

  // Stopped and started again, a network keeps its address.
  const before = mappings.find((m) => m.network === nets[1]!.name)!.upstream.address;
  expect((await netStart(nets[1]!)).exitCode).toBe(0);
  expect((await list()).find((m) => m.network === nets[1]!.name)!.upstream.address).toBe(before);
  expect((await netDestroy(nets[1]!)).exitCode).toBe(0);
});

test('starting twice changes nothing the second time', async () => {
  const net = define('1');
  expect((await netStart(net)).exitCode).toBe(0);
  const ns = namespaceName(net.name);
  const snapshot = async () => [
    (await sh('ip', ['-j', 'link', 'show', 'dev', hostDeviceNames(net.uuid).lan])).stdout,
    (await sh('ip', ['-n', ns, '-j', 'addr'])).stdout.replace(/"(valid|preferred)_life_time":\d+,?/g, ''),
    (await sh('ip', ['-n', ns, '-j', 'route'])).stdout,
    (await sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'])).stdout,
  ];
  const first = await snapshot();
  const again = await sb.hook([net.name, 'started', 'begin', '-'], net.xml);
  expect(again.exitCode).toBe(0);
  expect(await snapshot()).toEqual(first);
  const last = logLines().filter((l) => l.message === 'network started begin').pop()!;
  expect(last.changes).toBe(0);
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.differences).toEqual([]);
});

test('natns show finds and names drift', async () => {
  const net = define('1');
  expect((await netStart(net)).exitCode).toBe(0);
  await sh('ip', ['-n', namespaceName(net.name), 'route', 'del', 'default']);
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.differences).toEqual(['route default via 198.51.100.1 dev wan is missing']);
  // The state says what the differences say (issue 16: it said 'up').
  expect(show.state).toBe('drift');
  // The next start converges it.
  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
});

test('a gateway that is not on-link is refused at start begin, and nothing is built or leased', async () => {
  const net = define('1', `<natns:upstream bridge="${provider}" address="198.51.100.120" prefix="24" gateway="203.0.113.1"/>`);
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr.trim().split('\n')).toEqual([
    `natns: network '${net.name}': natns metadata: upstream gateway 203.0.113.1 is not on-link for 198.51.100.120/24: it must lie inside 198.51.100.0/24`,
  ]);
  expect(await list()).toEqual([]);
  expect(await sb.leftovers()).toEqual([]);
});

test('an exhausted pool is refused with one clear line, and the refused network gets nothing', async () => {
  sb.writeConfig({ pools: { default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.100' } } });
  const a = define('1');
  const b = define('2');
  expect((await netStart(a)).exitCode).toBe(0);
  const r = await netStart(b);
  expect(r.exitCode).toBe(2);
  expect(r.stderr.trim()).toBe(
    "natns: upstream pool 'default' is exhausted: all 1 addresses 198.51.100.100-198.51.100.100 are leased; widen the pool in the natns config or free an address with 'natns release NETWORK'",
  );
  expect((await list()).map((m) => m.network)).toEqual([a.name]);
  expect((await netDestroy(a)).exitCode).toBe(0);
  // Released, the address goes to the next network.
  expect((await sb.cli(['release', a.name])).exitCode).toBe(0);
  expect((await netStart(b)).exitCode).toBe(0);
  expect((await list()).map((m) => [m.network, m.upstream.address])).toEqual([[b.name, '198.51.100.100']]);
});

test('a missing upstream bridge is refused at start begin', async () => {
  sb.writeConfig({ pools: { default: { bridge: sb.name('nope'), subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.110' } } });
  const net = define('1');
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr).toMatch(/upstream bridge tst\w+-nope \(from pool 'default'\) does not exist on this host/);
});

test('a failed build removes everything, including the bridge libvirt would leave, and the next start works', async () => {
  const net = define('1');
  const blocker = hostDeviceNames(net.uuid).wan;
  expect((await sh('ip', ['link', 'add', blocker, 'type', 'bridge'])).exitCode).toBe(0);
  try {
    const r = await netStart(net);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(
      `natns: network '${net.name}': building its router failed: ${blocker} exists as a bridge, not as natns's veth; remove it (ip link del ${blocker}) and start the network again`,
    );
    expect(await sb.leftovers()).toEqual([`link ${blocker}`]);
    expect((await sh('ip', ['link', 'show', net.bridge])).exitCode).not.toBe(0);
  } finally {
    await sh('ip', ['link', 'del', blocker]);
  }
  expect((await netStart(net)).exitCode).toBe(0);
  expect((await list())[0]!.state).toBe('up');
});

test('a start that crashed after libvirt made the bridge does not block the next start', async () => {
  const net = define('1');
  expect((await netStart(net)).exitCode).toBe(0);
  // Crash: the hook died (nothing cleaned up) and libvirt marked the network inactive.
  const again = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect({ code: again.exitCode, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
  expect((await sh('ip', ['link', 'show', net.bridge])).exitCode).not.toBe(0);
  expect(await sb.leftovers()).toEqual([]);
  expect((await netStart(net)).exitCode).toBe(0);
});

test("a bridge natns did not leave behind is never deleted", async () => {
  const net = define('1');
  await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`bridge ${net.bridge} already exists and natns did not make it`));
  expect((await sh('ip', ['link', 'show', net.bridge])).exitCode).toBe(0);
});

test('networks without natns metadata and events natns ignores cost nothing and change nothing', async () => {
  const plain = '<hookData><network><name>default</name><uuid>0b0c0d0e-0000-4000-8000-000000000001</uuid><forward mode="nat"/></network></hookData>';
  for (const args of [['default', 'start', 'begin', '-'], ['default', 'started', 'begin', '-'], ['x', 'port-created', 'begin', '-']]) {
    const r = await sb.hook(args, plain);
    expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: '', err: '' });
  }
  expect(await list()).toEqual([]);
});

test("the hooks' code cache from the build is used as is, and a corrupt one only costs speed and is rewritten", async () => {
  const dist = join(sb.dir, 'dist');
  cpSync(join(repoRoot, 'dist'), dist, { recursive: true });
  const cache = join(dist, 'hook-core.cjs.v8cache');
  // An off-link gateway: the core loads, does its work (a refusal) and returns.
  const net = define('1', '<natns:upstream bridge="br0" address="198.51.100.120" prefix="24" gateway="203.0.113.1"/>');
  const hook = () => execa(join(dist, 'hook-network.cjs'), [net.name, 'start', 'begin', '-'], { input: net.xml, reject: false, env: sb.env });
  const stamp = () => statSync(cache).mtimeMs;

  const built = stamp();
  expect((await hook()).stderr).toMatch(/not on-link/);
  expect(stamp()).toBe(built);

  writeFileSync(cache, 'not a code cache');
  const r = await hook();
  expect({ code: r.exitCode, stderr: r.stderr.trim().split('\n').length }).toEqual({ code: 2, stderr: 1 });
  expect(statSync(cache).size).toBeGreaterThan(100_000);
  const rewritten = stamp();
  expect((await hook()).exitCode).toBe(2);
  expect(stamp()).toBe(rewritten);
});
