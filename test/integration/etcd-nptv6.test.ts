import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { EtcdServer } from '../helpers/etcd.js';
import { defineNet, netDestroy, netStart, poolConfig, type TestNet } from '../helpers/hooknet.js';
import { Sandbox, sh } from '../helpers/sandbox.js';

/**
 * NPTv6 prefix pools on the etcd backend: two simulated hosts (own config, `host` and state
 * folder each, as in etcd-ipam.test.ts) share one pool of routed /64s through a real etcd on
 * loopback. Each network gets a whole /64 of its own, one key per prefix, never the same one on
 * two hosts, and its router translates its guests' fd00::/64 to it.
 */
interface Host { name: string; sb: Sandbox }
interface Mapping { network: string; uuid: string; upstream6: { address: string; prefix: number; mode: string; pool: string; nextHop: string } }

/** Three /64s: 2001:db8:200::/64 .. 2001:db8:200:2::/64 of the /56. */
const PREFIXES = ['2001:db8:200::', '2001:db8:200:1::', '2001:db8:200:2::'];
const NPT = '<natns:upstream pool="npt" mode="nptv6"/>';

let etcd: EtcdServer;
let provider: string;
let upstream: string;
let prefix: string;
let a: Host;
let b: Host;
const cleanups: (() => Promise<void>)[] = [];

function newHost(name: string): Host {
  const sb = new Sandbox();
  cleanups.push(() => sb.cleanup());
  return { name, sb };
}

beforeAll(async () => {
  a = newHost('kvm-a');
  b = newHost('kvm-b');
  etcd = await EtcdServer.start(join(a.sb.dir, 'etcd'));
  cleanups.unshift(() => etcd.stop());
  provider = await a.sb.bridge('pb');
  // The host's own end of the provider bridge runs no IPv6 (as in the dual-stack tests).
  await sh('sysctl', ['-qw', `net.ipv6.conf.${provider}.disable_ipv6=1`]);
  upstream = await a.sb.host('up', provider, '198.51.100.1/24');
  await a.sb.ipv6(upstream, '2001:db8:100::1/64');
  prefix = `/natns-${a.sb.id}/`;
  for (const host of [a, b]) {
    host.sb.writeConfig({
      host: host.name,
      ipam: { backend: 'etcd', endpoints: [etcd.endpoint], prefix },
      pools: {
        ...poolConfig(provider).pools,
        npt: { bridge: provider, subnet: '2001:db8:200::/56', prefixLength: 64, gateway: '2001:db8:100::1', last: PREFIXES[2] },
      },
    });
  }
}, 60_000);

afterAll(async () => {
  for (const c of cleanups) await c().catch((e: unknown) => console.error(e));
});

async function mappings(host: Host): Promise<Mapping[]> {
  const r = await host.sb.cli(['list', '--json']);
  if (r.exitCode !== 0) throw new Error(`natns list on ${host.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Mapping[];
}

/** The IPv6 keys in etcd: address (or prefix start) -> owner. */
async function keys6(): Promise<Map<string, Record<string, string>>> {
  const all = await etcd.entries(`${prefix}leases/${provider}/`);
  return new Map([...all].map(([k, v]) => [k.slice(k.lastIndexOf('/') + 1), v] as const).filter(([address]) => address.includes(':')));
}

/** Whether any natns object of `net` exists: namespace or host devices. */
async function built(net: TestNet): Promise<string[]> {
  const devices = Object.values(hostDeviceNames(net.uuid));
  const links = (JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname);
  return [...links.filter((l) => devices.includes(l)), ...(existsSync(`/run/netns/${namespaceName(net.name)}`) ? [namespaceName(net.name)] : [])];
}

const nets: [Host, TestNet][] = [];
/** The network that found the pool full, and every other's prefix. */
let refused: [Host, TestNet];
const prefixOf = new Map<string, string>();

test('two hosts start four NPTv6 networks at once from a pool of three /64s in etcd: three get a whole /64 each, one key per prefix naming its host; the fourth is refused in words, holding nothing', async () => {
  for (const [host, tag] of [[a, 'a'], [b, 'b']] as const) {
    for (const i of [1, 2]) nets.push([host, defineNet(host.sb, `${tag}${i}`, { ipv6: { upstream: NPT } })]);
  }
  const starts = await Promise.all(nets.map(([h, n]) => netStart(h.sb, n)));
  const failed = starts.flatMap((r, i) => (r.exitCode === 0 && r.stderr === '' ? [] : [i]));
  expect(failed).toHaveLength(1);
  refused = nets[failed[0]!]!;
  expect(starts[failed[0]!]!.stderr).toBe(
    `natns: upstream pool 'npt' is exhausted: all 3 /64 prefixes ${PREFIXES[0]}-${PREFIXES[2]} are leased (by every host sharing etcd; see natns list --all-hosts); widen the pool or free an address with 'natns release NETWORK' on the host that holds it`,
  );

  const keys = await keys6();
  expect([...keys.keys()].sort()).toEqual([...PREFIXES].sort());
  for (const [host, net] of nets) {
    const m = (await mappings(host)).find((x) => x.uuid === net.uuid);
    if (net === refused[1]) {
      expect(m).toBeUndefined();
      continue;
    }
    expect(m?.upstream6).toMatchObject({ prefix: 64, mode: 'nptv6', pool: 'npt' });
    const address = m!.upstream6.address;
    expect(keys.get(address)).toMatchObject({ uuid: net.uuid, name: net.name, host: host.name, pool: 'npt' });
    prefixOf.set(net.uuid, address);
  }
  // Nothing of the refused network is in etcd, IPv4 included.
  const all = await etcd.entries(prefix);
  expect([...all.values()].filter((o) => o.uuid === refused[1].uuid)).toEqual([]);
  expect(await built(refused[1])).toEqual([]);

  // Each prefix is a working identity: the upstream router routes it to its router, as the
  // README says; guests with the same fd00::100 on each host leave as, and are reached by, their own.
  const seen = await a.sb.recorder(upstream, 8080, '', '::');
  const translated: string[] = [];
  for (const [i, [host, net]] of nets.filter(([, n]) => n !== refused[1]).entries()) {
    const m = (await mappings(host)).find((x) => x.uuid === net.uuid)!;
    await sh('ip', ['-n', upstream, '-6', 'route', 'add', `${m.upstream6.address}/64`, 'via', m.upstream6.nextHop, 'dev', 'eth0']);
    const g = await host.sb.host(`g${i}`, net.bridge, '10.0.0.100/24', '10.0.0.1');
    await host.sb.ipv6(g, 'fd00::100/64', 'fd00::1');
    await host.sb.recorder(g, 80, `g${i}`, '::');
    const me = `${m.upstream6.address}100`;
    translated.push(me);
    expect(await host.sb.connect(g, '2001:db8:100::1', 8080)).toBe(`hello ${me}`);
    expect(await a.sb.connect(upstream, me, 80)).toBe(`hello 2001:db8:100::1 from g${i}`);
  }
  expect(seen.sources()).toEqual(translated);
  expect(new Set(translated).size).toBe(3);
}, 120_000);

test('a restart keeps each prefix; a prefix released on one host goes to the network the other host was refused', async () => {
  if (!refused) throw new Error('the first test found no refused network: nothing to go on');
  const running = nets.filter(([, n]) => n !== refused[1]);
  for (const [host, net] of running) {
    expect((await netDestroy(host.sb, net)).exitCode).toBe(0);
    const r = await netStart(host.sb, net);
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect((await mappings(host)).find((x) => x.uuid === net.uuid)?.upstream6.address).toBe(prefixOf.get(net.uuid));
  }
  // Release a network of the host that was NOT refused, so the prefix crosses hosts.
  const [donorHost, donor] = running.find(([h]) => h !== refused[0])!;
  const freed = prefixOf.get(donor.uuid)!;
  expect((await netDestroy(donorHost.sb, donor)).exitCode).toBe(0);
  const released = await donorHost.sb.cli(['release', donor.name]);
  expect({ code: released.exitCode, err: released.stderr }).toEqual({ code: 0, err: '' });
  expect((await keys6()).has(freed)).toBe(false);

  const [host, net] = refused;
  const r = await netStart(host.sb, net);
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
  expect((await mappings(host)).find((x) => x.uuid === net.uuid)?.upstream6).toMatchObject({ address: freed, prefix: 64, mode: 'nptv6' });
  expect((await keys6()).get(freed)).toMatchObject({ uuid: net.uuid, host: host.name });

  // Everything down and released: no key is left.
  for (const [h, n] of nets.filter(([, x]) => x !== donor)) {
    expect((await netDestroy(h.sb, n)).exitCode).toBe(0);
    expect((await h.sb.cli(['release', n.name])).exitCode).toBe(0);
  }
  expect([...(await etcd.entries(prefix)).keys()]).toEqual([]);
  expect([...(await a.sb.leftovers()), ...(await b.sb.leftovers())]).toEqual([]);
}, 120_000);
