import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { EtcdServer, freePort, makeCerts } from '../helpers/etcd.js';
import { defineNet, domainXml, netDestroy, netStart, poolConfig, type TestNet } from '../helpers/hooknet.js';
import { CLI, HOOK, Sandbox, sh } from '../helpers/sandbox.js';

/**
 * Upstream leases on a real etcd (Debian's etcd-server, on loopback ports, data in a temp
 * folder), shared by simulated hosts: each host is its own config (its own "host" name) and
 * state folder on this machine, driving the built hooks as libvirt would.
 */
interface Host {
  name: string;
  sb: Sandbox;
}

const POOL = Array.from({ length: 100 }, (_, i) => `198.51.100.${100 + i}`);
let etcd: EtcdServer;
let provider: string;
let prefix: string;
let a: Host;
let b: Host;
const cleanups: (() => Promise<void>)[] = [];

function etcdConfig(host: Host, ipam: object = {}, pools = poolConfig(provider)) {
  host.sb.writeConfig({ host: host.name, ipam: { backend: 'etcd', endpoints: [etcd.endpoint], prefix, ...ipam }, ...pools });
}

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
  prefix = `/natns-${a.sb.id}/`;
  etcdConfig(a);
  etcdConfig(b);
});

afterAll(async () => {
  for (const c of cleanups) await c().catch((e: unknown) => console.error(e));
});

const key = (address: string) => `${prefix}leases/${provider}/${address}`;

async function mappings(host: Host): Promise<{ network: string; uuid: string; upstream: { address: string } }[]> {
  const r = await host.sb.cli(['list', '--json']);
  if (r.exitCode !== 0) throw new Error(`natns list on ${host.name}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Whether any natns object of `net` exists: namespace, host devices, or the libvirt bridge. */
async function built(net: TestNet): Promise<string[]> {
  const devices = Object.values(hostDeviceNames(net.uuid));
  const links = (JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname);
  return [
    ...links.filter((l) => devices.includes(l) || l === net.bridge),
    ...(readdirSync('/run/netns').includes(namespaceName(net.name)) ? [namespaceName(net.name)] : []),
  ];
}

/**
 * `natns check` for a whole host: every network it knows (kernel against plan) and its leases.
 * It also lists namespaces and links of the other simulated host and of other test runs on this
 * machine as unclaimed: those (never named after this host's sandbox or networks) are set aside.
 */
async function hostFindings(host: Host, nets: TestNet[]): Promise<string[]> {
  const mine = new Set(nets.flatMap((n) => Object.values(hostDeviceNames(n.uuid))));
  const r = await host.sb.cli(['check']);
  const findings = r.stderr ? [r.stderr.trim()] : [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const namespace = /^namespace (\S+) belongs to no network$/.exec(line)?.[1];
    const link = /^link (\S+) belongs to no network$/.exec(line)?.[1];
    if (namespace !== undefined && !namespace.includes(host.sb.id)) continue;
    if (link !== undefined && !mine.has(link)) continue;
    if (line.startsWith('ok: ')) continue;
    findings.push(line);
  }
  return findings;
}

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t = Date.now();
  const r = await fn();
  return [r, Date.now() - t];
};

/** The one line a start gets when etcd cannot be reached. */
const unreachable = (net: TestNet, why: string) => new RegExp(
  `^natns: cannot lease an upstream address for network '${net.name}': etcd did not answer: ${etcd.endpoint.replace(/\./g, '\\.')} ${why}; no address was leased locally instead$`,
);

/** Each network's address, as the first test found it. */
const addressOf = new Map<string, string>();
const netsA: TestNet[] = [];
const netsB: TestNet[] = [];

test('two hosts start 20 networks each at once from one pool: 40 distinct addresses, each an etcd key naming its host; a restart keeps every one', async () => {
  netsA.push(...Array.from({ length: 20 }, (_, i) => defineNet(a.sb, `a${i}`)));
  netsB.push(...Array.from({ length: 20 }, (_, i) => defineNet(b.sb, `b${i}`)));
  const all = [...netsA.map((n) => [a, n] as const), ...netsB.map((n) => [b, n] as const)];
  const starts = await Promise.all(all.map(([h, n]) => netStart(h.sb, n)));
  expect(starts.map((r) => `${r.exitCode} ${r.stderr}`)).toEqual(all.map(() => '0 '));

  const before = new Map<string, string>();
  const entries = await etcd.entries(prefix);
  for (const host of [a, b]) {
    const rows = await mappings(host);
    expect(rows).toHaveLength(20);
    for (const m of rows) {
      before.set(m.uuid, m.upstream.address);
      expect(entries.get(key(m.upstream.address))).toMatchObject({ uuid: m.uuid, name: m.network, host: host.name, pool: 'default' });
    }
  }
  // Lowest free under contention too: exactly the 40 lowest addresses, no gap, no duplicate.
  expect([...before.values()].sort()).toEqual(POOL.slice(0, 40));
  expect([...entries.keys()].sort()).toEqual(POOL.slice(0, 40).map(key).sort());

  // Every host sees every lease, each with its host.
  const listed = JSON.parse((await b.sb.cli(['list', '--all-hosts', '--json'])).stdout) as { host: string; uuid: string; address: string; kind: string }[];
  expect(listed).toHaveLength(40);
  for (const l of listed) expect([l.kind, l.address]).toEqual(['network', before.get(l.uuid)]);
  expect(listed.filter((l) => l.host === 'kvm-a').map((l) => l.uuid).sort()).toEqual(netsA.map((n) => n.uuid).sort());
  expect((await a.sb.cli(['list', '--all-hosts'])).stdout).toMatch(new RegExp(`^kvm-b +${netsB[0]!.name} +network +198\\.51\\.100\\.\\d+ +${provider} +default$`, 'm'));
  expect((await a.sb.cli(['show', netsA[0]!.name])).stdout).toContain('Lease:           held by host kvm-a in etcd');

  // Stop and start every network again, all at once: each gets its own address back.
  const stops = await Promise.all(all.map(([h, n]) => netDestroy(h.sb, n)));
  expect(stops.map((r) => r.exitCode)).toEqual(all.map(() => 0));
  const again = await Promise.all(all.map(([h, n]) => netStart(h.sb, n)));
  expect(again.map((r) => `${r.exitCode} ${r.stderr}`)).toEqual(all.map(() => '0 '));
  const after = new Map([...(await mappings(a)), ...(await mappings(b))].map((m) => [m.uuid, m.upstream.address]));
  expect(after).toEqual(before);
  for (const [uuid, address] of after) addressOf.set(uuid, address);
  expect((await etcd.entries(prefix)).size).toBe(40);
}, 120_000);

test("a guest's 1:1 address is leased the same way, and natns release returns it", async () => {
  const net = netsB[0]!;
  const name = b.sb.name('vm1');
  const uuid = randomUUID();
  const xml = domainXml({ name, uuid, network: net.name, mac: '52:54:00:cc:00:01', metadata: `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:public network="${net.name}" pool="default"/>` });
  const r = await b.sb.qemuHook([name, 'start', 'begin', '-'], xml);
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
  expect((await etcd.entries(prefix)).get(key(POOL[40]!))).toMatchObject({ uuid, name, kind: 'guest', host: 'kvm-b' });
  expect((await b.sb.qemuHook([name, 'stopped', 'end', '-'], xml)).exitCode).toBe(0);
  // Stopped, the guest keeps it; released, it is gone from etcd.
  expect((await etcd.entries(prefix)).has(key(POOL[40]!))).toBe(true);
  const released = await b.sb.cli(['release', name]);
  expect({ code: released.exitCode, out: released.stdout }).toEqual({ code: 0, out: `released ${POOL[40]} on ${provider} from guest ${name}` });
  expect((await etcd.entries(prefix)).has(key(POOL[40]!))).toBe(false);
});

test('etcd frozen or dead: a start fails within the timeout with one line naming the endpoint and builds nothing; running networks keep running', async () => {
  const late = defineNet(a.sb, 'late');
  try {
    etcd.freeze();
    const [slow, ms] = await timed(() => netStart(a.sb, late));
    expect(slow.exitCode).toBe(1);
    expect(slow.stderr).toMatch(unreachable(late, 'did not answer within [23]\\.\\d s'));
    expect(ms).toBeLessThan(4500);
    expect(await built(late)).toEqual([]);
    etcd.thaw();
    await etcd.kill();
    const [dead, ms2] = await timed(() => netStart(a.sb, late));
    expect(dead.stderr).toMatch(unreachable(late, 'refused the connection \\(ECONNREFUSED\\)'));
    expect(ms2).toBeLessThan(3000);
    expect(await built(late)).toEqual([]);
    expect((await mappings(a)).map((m) => m.network)).not.toContain(late.name);
    // What runs needs nothing from etcd: routers stay as planned, and a stop works.
    for (const n of [netsA[0]!, netsB[0]!]) {
      const host = n === netsA[0] ? a : b;
      expect((await host.sb.cli(['check', n.name])).stdout).toBe('ok: the kernel matches the plan');
    }
    expect((await netDestroy(a.sb, netsA[1]!)).exitCode).toBe(0);
    const show = await a.sb.cli(['show', netsA[0]!.name]);
    expect(show.stdout).toMatch(/^Lease: +unknown: cannot read the lease: etcd did not answer: .* refused the connection/m);
  } finally {
    if (etcd.pid) etcd.thaw();
    else await etcd.launch();
  }
  // etcd back: the stopped network starts again with its own address.
  const back = await netStart(a.sb, netsA[1]!);
  expect({ code: back.exitCode, err: back.stderr }).toEqual({ code: 0, err: '' });
  expect((await mappings(a)).find((m) => m.uuid === netsA[1]!.uuid)?.upstream.address).toBe(addressOf.get(netsA[1]!.uuid));
}, 60_000);

test('endpoints are tried in turn: a dead one is passed over; when all fail, the line names each', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const f = newHost('kvm-f');
  const fprefix = `/natns-${f.sb.id}/`;
  const config = (endpoints: string[]) => f.sb.writeConfig({ host: f.name, ipam: { backend: 'etcd', endpoints, prefix: fprefix }, ...poolConfig(provider) });
  const net = defineNet(f.sb, 'fo');
  config([dead, etcd.endpoint]);
  expect((await f.sb.hook([net.name, 'start', 'begin', '-'], net.xml)).stderr).toBe('');
  expect((await etcd.entries(fprefix)).get(`${fprefix}leases/${provider}/198.51.100.100`)).toMatchObject({ uuid: net.uuid, host: f.name });
  const dead2 = `http://127.0.0.1:${await freePort()}`;
  config([dead, dead2]);
  const r = await f.sb.cli(['list', '--all-hosts']);
  expect({ code: r.exitCode, err: r.stderr }).toEqual({
    code: 1,
    err: `natns: cannot read the leases: etcd did not answer: ${dead} refused the connection (ECONNREFUSED); ${dead2} refused the connection (ECONNREFUSED)`,
  });
});

test('an etcd that answers, but slowly: a start gets one timeout for all its requests; a lease whose answer came too late is given back with the next request', async () => {
  // A proxy in front of the real etcd that holds every answer back 600 ms: each request alone
  // fits the 1 s timeout, the two a new lease needs (read the bridge, create) do not.
  const proxy = createServer((client) => {
    const upstream = connect(etcd.clientPort, '127.0.0.1');
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => setTimeout(() => client.write(d), 600));
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const s = newHost('kvm-s');
  const sprefix = `/natns-${s.sb.id}/`;
  const config = (endpoint: string) => s.sb.writeConfig({ host: s.name, ipam: { backend: 'etcd', endpoints: [endpoint], prefix: sprefix, timeout: 1 }, ...poolConfig(provider) });
  const notes = () => readdirSafe(join(s.sb.env.NATNS_STATE_DIR!, 'etcd-pending'));
  const net = defineNet(s.sb, 'slow');
  try {
    const endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    config(endpoint);
    const [r, ms] = await timed(() => s.sb.hook([net.name, 'start', 'begin', '-'], net.xml));
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 1, err: expect.stringMatching(new RegExp(`etcd did not answer: ${endpoint.replace(/\./g, '\\.')} did not answer within 0\\.\\d s; no address`)) });
    expect(ms).toBeLessThan(1000 + 1500);
  } finally {
    await new Promise((r) => proxy.close(r));
  }
  // The create reached etcd, its answer did not reach the hook: written down, and in etcd.
  expect(notes()).toHaveLength(1);
  expect((await etcd.entries(sprefix)).get(`${sprefix}leases/${provider}/198.51.100.100`)).toMatchObject({ uuid: net.uuid, host: s.name });
  // The host's next etcd request gives it back: the failed start leaves no lease.
  config(etcd.endpoint);
  expect(JSON.parse((await s.sb.cli(['list', '--all-hosts', '--json'])).stdout).filter((l: { host: string }) => l.host === s.name)).toEqual([]);
  expect(await etcd.entries(sprefix)).toEqual(new Map());
  expect(notes()).toEqual([]);
  expect(await built(net)).toEqual([]);
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
let results: Awaited<ReturnType<typeof netStart>>[] = [];

test('etcd killed in the middle of a burst of starts: each completed or failed with the line, nothing half-built; restarted, every lease is there and natns check is clean on both hosts', async () => {
  const burst = Array.from({ length: 8 }, (_, i) => [[a, defineNet(a.sb, `k${i}`)], [b, defineNet(b.sb, `k${i}`)]] as const).flat();
  // Staggered, as autostarts and admins start networks; etcd dies once three have completed.
  let done = 0;
  const runs = burst.map(([h, n], i) => pause(i * 150).then(() => netStart(h.sb, n)).then((r) => {
    if (r.exitCode === 0) done++;
    return r;
  }));
  const deadline = Date.now() + 60_000;
  while (done < 3 && Date.now() < deadline) await pause(10);
  try {
    await etcd.kill();
    results = await Promise.all(runs);
  } finally {
    await etcd.launch();
  }

  const completed = burst.filter((_, i) => results[i]!.exitCode === 0);
  for (const [i, [, net]] of burst.entries()) {
    const r = results[i]!;
    if (r.exitCode === 0) {
      expect(r.stderr).toBe('');
      continue;
    }
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 1, err: expect.stringMatching(unreachable(net, '[^;\\n]+')) });
    expect(await built(net)).toEqual([]);
  }
  // The test means something only if etcd died with starts on both sides of it.
  expect(completed.length).toBeGreaterThan(0);
  expect(completed.length).toBeLessThan(burst.length);

  const nets = { [a.name]: [...netsA, ...burst.filter(([h]) => h === a).map(([, n]) => n)], [b.name]: [...netsB, ...burst.filter(([h]) => h === b).map(([, n]) => n)] };
  // natns check is this host's first etcd request since the kill: it also gives back what a
  // create whose answer was lost may have leased.
  expect(await hostFindings(a, nets[a.name]!)).toEqual([]);
  expect(await hostFindings(b, nets[b.name]!)).toEqual([]);
  for (const host of [a, b]) expect(readdirSafe(join(host.sb.env.NATNS_STATE_DIR!, 'etcd-pending'))).toEqual([]);

  // Every network natns knows holds its lease in etcd, and etcd holds no lease without its network.
  const entries = await etcd.entries(prefix);
  const records: string[] = [];
  for (const host of [a, b]) {
    for (const m of await mappings(host)) {
      records.push(key(m.upstream.address));
      expect(entries.get(key(m.upstream.address))).toMatchObject({ uuid: m.uuid, host: host.name });
    }
  }
  expect([...entries.keys()].sort()).toEqual(records.sort());
  // The 40 leases of the first test came through the kill, the one stopped network's included.
  for (const [uuid, address] of addressOf) expect(entries.get(key(address))?.uuid).toBe(uuid);
  // What completed runs, and what failed starts again now.
  for (const [h, n] of completed) expect((await h.sb.cli(['check', n.name])).stdout).toBe('ok: the kernel matches the plan');
  const retry = burst.filter((x) => !completed.includes(x));
  const again = await Promise.all(retry.map(([h, n]) => netStart(h.sb, n)));
  expect(again.map((r) => `${r.exitCode} ${r.stderr}`)).toEqual(retry.map(() => '0 '));
  console.log(`etcd kill: ${completed.length} of ${burst.length} starts completed, ${retry.length} failed with the line and started after etcd came back`);
}, 90_000);

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A virsh that answers what natns asks of libvirt from files: which networks and guests exist. */
function fakeVirsh(host: Host, defined: string[], active: string[] = []): Record<string, string> {
  const bin = join(host.sb.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'virsh'), `#!/bin/sh
case "$*" in
  # Both lists in one call, as natns asks them (libvirtNetworks): active, the marker, inactive.
  *"echo natns-split"*) printf '%s\\n' ${active.join(' ')} natns-split ${defined.filter((d) => !active.includes(d)).join(' ')} ;;
  *"net-list --uuid --all"*) printf '%s\\n' ${defined.join(' ')} ;;
  *"net-list --uuid --inactive"*) printf '%s\\n' ${defined.filter((d) => !active.includes(d)).join(' ')} ;;
  *"net-list --uuid"*) printf '%s\\n' ${active.join(' ')} ;;
  *"list --uuid --all"*) ;;
  *) echo "fake virsh cannot: $*" >&2; exit 1 ;;
esac
`);
  chmodSync(join(bin, 'virsh'), 0o755);
  return { ...host.sb.env, PATH: `${bin}:${process.env.PATH}` };
}

/**
 * The natns CLI in a mount namespace of its own, with empty /run/netns and /sys/class/net: a
 * host-wide check or repair there sees none of the routers of other hosts and test runs on this
 * machine, and removes none of them; it still reaches etcd on the host's loopback.
 */
function isolatedCli(env: Record<string, string>, args: string[]) {
  return execa('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
    'mount -t tmpfs natns-test /run/netns && mount -t tmpfs natns-test /sys/class/net && exec "$@"', 'sh', process.execPath, CLI, ...args], { env, reject: false });
}

test("a lease in etcd that names this host but no network of it is found by check and released by --repair; other hosts' leases stay; gc releases an undefined network's", async () => {
  const c = newHost('kvm-c');
  etcdConfig(c);
  const keep = defineNet(c.sb, 'keep');
  const ghost = defineNet(c.sb, 'ghost');
  for (const n of [keep, ghost]) {
    expect((await netStart(c.sb, n)).exitCode).toBe(0);
    expect((await netDestroy(c.sb, n)).exitCode).toBe(0);
  }
  const held = new Map((await mappings(c)).map((m) => [m.uuid, m.upstream.address]));
  // A record lost (a crash, a restored backup): its lease in etcd names this host and nothing here.
  rmSync(join(c.sb.env.NATNS_STATE_DIR!, 'networks', `${ghost.uuid}.json`));
  const others = [...(await etcd.entries(prefix))].filter(([, v]) => v.host !== c.name);
  const env = fakeVirsh(c, [keep.uuid]);

  const found = await isolatedCli(env, ['check']);
  const line = `lease ${held.get(ghost.uuid)} on ${provider} belongs to no network (was ${ghost.name})`;
  expect({ code: found.exitCode, out: found.stdout, err: found.stderr }).toEqual({ code: 1, out: line, err: '' });
  const repaired = await isolatedCli(env, ['check', '--repair']);
  expect({ code: repaired.exitCode, out: repaired.stdout, err: repaired.stderr }).toEqual({ code: 0, out: `removed: ${line}`, err: '' });
  let entries = await etcd.entries(prefix);
  expect(entries.has(key(held.get(ghost.uuid)!))).toBe(false);
  expect(entries.get(key(held.get(keep.uuid)!))).toMatchObject({ uuid: keep.uuid, host: c.name });
  expect([...entries].filter(([, v]) => v.host !== c.name)).toEqual(others);
  expect((await isolatedCli(env, ['check'])).exitCode).toBe(0);

  // libvirt forgets `keep`: natns gc gives its address back.
  const gc = await execa(CLI, ['gc'], { env: fakeVirsh(c, []), reject: false });
  expect({ code: gc.exitCode, out: gc.stdout }).toEqual({ code: 0, out: `released ${held.get(keep.uuid)} of undefined network ${keep.name}` });
  entries = await etcd.entries(prefix);
  expect([...entries].filter(([, v]) => v.host === c.name)).toEqual([]);
  expect([...entries].filter(([, v]) => v.host !== c.name)).toEqual(others);
});

test('a TLS-only etcd with client certificates works; a wrong CA or a missing client certificate is refused in words', async () => {
  const t = newHost('kvm-t');
  const certs = await makeCerts(join(t.sb.dir, 'pki'));
  const secure = await EtcdServer.start(join(t.sb.dir, 'etcd'), certs);
  cleanups.unshift(() => secure.stop());
  const tprovider = await t.sb.bridge('pb');
  const tprefix = `/natns-${t.sb.id}/`;
  const tls = (settings: object) => t.sb.writeConfig({ host: t.name, ipam: { backend: 'etcd', endpoints: [secure.endpoint], prefix: tprefix, tls: settings }, ...poolConfig(tprovider) });
  const net = defineNet(t.sb, 'tls');
  const refusedWith = async (why: RegExp, code = 1) => {
    const r = await netStart(t.sb, net);
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code, err: expect.stringMatching(why) });
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(await built(net)).toEqual([]);
  };

  tls({ ca: certs.wrongCa, cert: certs.clientCert, key: certs.clientKey });
  await refusedWith(new RegExp(`etcd did not answer: ${secure.endpoint.replace(/\./g, '\\.')} presented a certificate that the CA in ${certs.wrongCa} did not sign: refused \\([A-Z_]+\\); no address was leased locally instead$`));
  tls({ ca: certs.ca });
  await refusedWith(/etcd did not answer: https:\/\/127\.0\.0\.1:\d+ (requires a client certificate|refused our client certificate)/);
  tls({ ca: certs.ca, cert: certs.clientCert, key: join(certs.dir, 'missing.key') });
  await refusedWith(new RegExp(`^natns: cannot read the etcd TLS key file ${join(certs.dir, 'missing.key')}: ENOENT`), 2);

  tls({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
  const r = await netStart(t.sb, net);
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
  expect((await secure.entries(tprefix)).get(`${tprefix}leases/${tprovider}/198.51.100.100`)).toMatchObject({ uuid: net.uuid, host: t.name });
  expect((await netDestroy(t.sb, net)).exitCode).toBe(0);
});

test('natns ipam migrate --to etcd moves the file leases of a host into etcd, refusing while another host holds one of its addresses', async () => {
  const m = newHost('kvm-m');
  const mprovider = await m.sb.bridge('pb');
  const mprefix = `/natns-${m.sb.id}/`;
  const mkey = (address: string) => `${mprefix}leases/${mprovider}/${address}`;
  m.sb.writeConfig({ host: m.name, ...poolConfig(mprovider) });
  const [m1, m2, m3] = ['m1', 'm2', 'm3'].map((s) => defineNet(m.sb, s)) as [TestNet, TestNet, TestNet];
  for (const n of [m1, m2]) expect((await netStart(m.sb, n)).exitCode).toBe(0);
  const fileLeases = () => readdirSafe(join(m.sb.env.NATNS_STATE_DIR!, 'leases', mprovider)).filter((f) => !f.startsWith('.'));
  expect(fileLeases().sort()).toEqual(['198.51.100.100', '198.51.100.101']);

  // Another host already holds .101 in etcd.
  const elsewhere = { uuid: randomUUID(), name: 'elsewhere', host: 'kvm-z' };
  await etcd.ctl('put', mkey('198.51.100.101'), JSON.stringify(elsewhere));
  m.sb.writeConfig({ host: m.name, ipam: { backend: 'etcd', endpoints: [etcd.endpoint], prefix: mprefix }, ...poolConfig(mprovider) });
  // Until its leases are moved, the host leases nothing from etcd: a file lease could be handed out twice.
  const early = await netStart(m.sb, m3);
  expect({ code: early.exitCode, err: early.stderr }).toEqual({ code: 2, err: expect.stringMatching(/^natns: this host still holds 2 upstream lease\(s\) in files .* 'natns ipam migrate --to etcd' first/) });
  const refused = await m.sb.cli(['ipam', 'migrate', '--to', 'etcd']);
  expect({ code: refused.exitCode, err: refused.stderr }).toEqual({
    code: 2,
    err: `natns: nothing migrated: 198.51.100.101 on ${mprovider} (here: ${m2.name}) is held by network 'elsewhere' on host kvm-z; release it on one side (natns release NAME), then migrate again`,
  });
  expect(fileLeases()).toHaveLength(2);
  expect([...(await etcd.entries(mprefix)).keys()]).toEqual([mkey('198.51.100.101')]);

  await etcd.ctl('del', mkey('198.51.100.101'));
  const moved = await m.sb.cli(['ipam', 'migrate', '--to', 'etcd']);
  expect({ code: moved.exitCode, err: moved.stderr }).toEqual({ code: 0, err: '' });
  expect(moved.stdout).toContain('2 lease(s) moved into etcd');
  expect(fileLeases()).toEqual([]);
  const entries = await etcd.entries(mprefix);
  expect(entries.get(mkey('198.51.100.100'))).toMatchObject({ uuid: m1.uuid, host: m.name });
  expect(entries.get(mkey('198.51.100.101'))).toMatchObject({ uuid: m2.uuid, host: m.name });
  // Same addresses after a restart, and the pool goes on from there.
  expect((await netDestroy(m.sb, m1)).exitCode).toBe(0);
  for (const n of [m1, m3]) expect((await netStart(m.sb, n)).stderr).toBe('');
  expect(new Map((await mappings(m)).map((x) => [x.network, x.upstream.address]))).toEqual(new Map([
    [m1.name, '198.51.100.100'], [m2.name, '198.51.100.101'], [m3.name, '198.51.100.102'],
  ]));
  expect((await m.sb.cli(['ipam', 'migrate', '--to', 'etcd'])).stdout).toBe('no file leases to move');
});

test('a hook on the file backend loads no http module; on etcd over http it loads http and not https', async () => {
  const probe = join(a.sb.dir, 'modules.cjs');
  const out = join(a.sb.dir, 'modules.json');
  writeFileSync(probe, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (http|https|tls)$/.test(m)))));\n`);
  const loaded = async (sb: Sandbox, net: TestNet) => {
    const r = await execa(HOOK, [net.name, 'start', 'begin', '-'], { input: net.xml, env: { ...sb.env, NODE_OPTIONS: `--require ${probe}` }, reject: false });
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
    return JSON.parse((await import('node:fs')).readFileSync(out, 'utf8')) as string[];
  };
  const f = new Sandbox();
  cleanups.push(() => f.cleanup());
  f.writeConfig(poolConfig(provider));
  expect(await loaded(f, defineNet(f, 'files'))).toEqual([]);
  expect(await loaded(a.sb, defineNet(a.sb, 'probe'))).toEqual(['NativeModule http']);
});
