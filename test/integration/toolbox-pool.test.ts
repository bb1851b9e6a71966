import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EtcdServer } from '../helpers/etcd.js';
import { defineNet, domainXml, expectStarted, netDestroy } from '../helpers/hooknet.js';
import { Sandbox } from '../helpers/sandbox.js';

/**
 * natns pool list / pool show: each pool's use and every lease with its owner, read from the
 * lease store the config names: the files of this host, and a real etcd shared by two hosts.
 */
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => console.error(e));
});

async function sandbox(): Promise<{ sb: Sandbox; provider: string }> {
  const sb = new Sandbox();
  cleanups.push(() => sb.cleanup());
  return { sb, provider: await sb.bridge('pb') };
}

const pools = (provider: string) => ({
  default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.109' },
  spare: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.200', last: '198.51.100.203' },
});

async function json(sb: Sandbox, args: string[]): Promise<unknown> {
  const r = await sb.cli([...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`natns ${args.join(' ')}: ${r.exitCode} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('pool list and pool show on the file store: pool and fixed addresses, a guest\'s 1:1 address, a release', async () => {
  const { sb, provider } = await sandbox();
  sb.writeConfig({ pools: pools(provider) });
  const nets = [defineNet(sb, '1'), defineNet(sb, '2'),
    defineNet(sb, '3', { upstream: `<natns:upstream bridge="${provider}" address="198.51.100.105" prefix="24" gateway="198.51.100.1"/>` })];
  for (const n of nets) await expectStarted(sb, n);
  const vm = sb.name('vm1');
  const guest = domainXml({ name: vm, uuid: randomUUID(), network: nets[0]!.name, mac: '52:54:00:bb:00:01', metadata: `<natns:address network="${nets[0]!.name}" ip="10.0.0.100"/><natns:public network="${nets[0]!.name}" pool="default"/>` });
  const g = await sb.qemuHook([vm, 'start', 'begin', '-'], guest);
  expect({ code: g.exitCode, err: g.stderr }).toEqual({ code: 0, err: '' });

  // The fixed address inside the range blocks it as much as a pool lease does.
  expect(await json(sb, ['pool', 'list'])).toEqual([
    { pool: 'default', bridge: provider, family: 'ipv4', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.109', units: 'addresses', size: 10, used: 4, free: 6 },
    { pool: 'spare', bridge: provider, family: 'ipv4', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.200', last: '198.51.100.203', units: 'addresses', size: 4, used: 0, free: 4 },
  ]);
  const host = (await json(sb, ['pool', 'show', 'default']) as { leases: { host: string }[] }).leases[0]!.host;
  expect(await json(sb, ['pool', 'show', 'default'])).toMatchObject({
    pool: 'default', used: 4, free: 6,
    leases: [
      { address: '198.51.100.100', kind: 'network', owner: nets[0]!.name, uuid: nets[0]!.uuid, host },
      { address: '198.51.100.101', kind: 'network', owner: nets[1]!.name, uuid: nets[1]!.uuid, host },
      { address: '198.51.100.102', kind: 'guest', owner: vm, host },
      { address: '198.51.100.105', kind: 'network', owner: nets[2]!.name, uuid: nets[2]!.uuid, host },
    ],
  });
  const text = await sb.cli(['pool', 'list']);
  expect(text.stdout.split('\n').slice(0, 3)).toEqual([
    expect.stringMatching(/^POOL +BRIDGE +RANGE +USED +FREE$/),
    expect.stringMatching(/^-+ +-+/),
    expect.stringMatching(new RegExp(`^default +${provider} +198\\.51\\.100\\.100-198\\.51\\.100\\.109 +4 +6$`)),
  ]);
  const shown = await sb.cli(['pool', 'show', 'default']);
  expect(shown.stdout).toMatch(new RegExp(`\\n198\\.51\\.100\\.102 +guest +${vm} +${host}\\n`));
  for (const out of [text.stdout, shown.stdout]) expect(out.split('\n').filter((l) => l.length > 80)).toEqual([]);

  // A released network's address is free again.
  expect((await netDestroy(sb, nets[1]!)).exitCode).toBe(0);
  expect((await sb.cli(['release', nets[1]!.name])).exitCode).toBe(0);
  expect(await json(sb, ['pool', 'list'])).toMatchObject([{ pool: 'default', used: 3, free: 7 }, { pool: 'spare', used: 0 }]);
  expect((await json(sb, ['pool', 'show', 'default']) as { leases: { address: string }[] }).leases.map((l) => l.address))
    .toEqual(['198.51.100.100', '198.51.100.102', '198.51.100.105']);

  const unknown = await sb.cli(['pool', 'show', 'nosuch']);
  expect({ code: unknown.exitCode, out: unknown.stdout, err: unknown.stderr }).toEqual({
    code: 2, out: '', err: "natns: no pool named 'nosuch' in the natns config (defined: default, spare; see natns pool list)",
  });
  expect((await sb.cli(['pool', 'list', 'extra'])).exitCode).toBe(2);
  expect((await sb.cli(['pool', 'list', '--wide'])).exitCode).toBe(2);
});

test('pool list and pool show on etcd: the leases of both hosts sharing it, each naming its host', async () => {
  const a = await sandbox();
  const b = new Sandbox();
  cleanups.push(() => b.cleanup());
  const etcd = await EtcdServer.start(join(a.sb.dir, 'etcd'));
  cleanups.push(() => etcd.stop());
  const ipam = { backend: 'etcd', endpoints: [etcd.endpoint], prefix: `/natns-${a.sb.id}/` };
  a.sb.writeConfig({ host: 'kvm-a', ipam, pools: pools(a.provider) });
  b.writeConfig({ host: 'kvm-b', ipam, pools: pools(a.provider) });
  const na = defineNet(a.sb, '1');
  const nb = defineNet(b, '1');
  await expectStarted(a.sb, na);
  await expectStarted(b, nb);
  for (const sb of [a.sb, b]) {
    expect(await json(sb, ['pool', 'list'])).toMatchObject([{ pool: 'default', used: 2, free: 8 }, { pool: 'spare', used: 0, free: 4 }]);
    expect(await json(sb, ['pool', 'show', 'default'])).toMatchObject({
      leases: [
        { address: '198.51.100.100', kind: 'network', owner: na.name, uuid: na.uuid, host: 'kvm-a' },
        { address: '198.51.100.101', kind: 'network', owner: nb.name, uuid: nb.uuid, host: 'kvm-b' },
      ],
    });
  }
  const doctor = async () => (JSON.parse((await a.sb.cli(['doctor', '--json'])).stdout) as { findings: { check: string; status: string; detail: string }[] })
    .findings.find((f) => f.check === 'ipam: lease store');
  expect(await doctor()).toMatchObject({ status: 'pass', detail: `etcd answers (${etcd.endpoint}): 2 lease(s) of every host` });
  // etcd away: the command fails in words, and says nothing as if the pool were empty; doctor says so.
  await etcd.kill();
  expect(await doctor()).toMatchObject({ status: 'fail', detail: expect.stringContaining(etcd.endpoint) });
  const down = await a.sb.cli(['pool', 'list']);
  expect({ code: down.exitCode, out: down.stdout }).toEqual({ code: 1, out: '' });
  expect(down.stderr).toMatch(/^natns: .*etcd/);
});
