import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { poolConfig, poolSandbox, portHookData } from '../helpers/hooknet.js';
import { hookData } from '../helpers/xml.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { sh, type Sandbox } from '../helpers/sandbox.js';

/**
 * natns network create / set / delete against a libvirtd of the test's own (its own network
 * definitions, this build's hook with the sandbox's config and state), with real routers.
 */
let sb: Sandbox;
let provider: string;
let libvirt: PrivateLibvirtd;
const madeBridges: string[] = [];

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(true));
  sb.writeConfig({ pools: { ...poolConfig(provider).pools, spare: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.200', last: '198.51.100.203' } } });
  libvirt = new PrivateLibvirtd(sb);
  await libvirt.start();
});

afterEach(async () => {
  // Networks of this libvirtd outlive it: stop each (its hook removes the router) before it goes.
  const names = (await libvirt.virsh('net-list', '--all', '--name')).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  for (const n of names) await libvirt.virsh('net-destroy', n);
  await libvirt.stop();
  // A bridge name natns chose (virbrN) carries no test prefix: removed by name.
  for (const b of madeBridges.splice(0)) if (existsSync(`/sys/class/net/${b}`)) await sh('ip', ['link', 'del', b]);
  await sb.cleanup();
});

async function cli(args: string[]) {
  const r = await libvirt.cli(args);
  return { code: r.exitCode, out: r.stdout, err: r.stderr };
}

async function json(args: string[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`natns ${args.join(' ')}: ${r.code} ${r.err}`);
  return JSON.parse(r.out);
}

test('network create defines (and starts) from the template, choosing a free bridge; refuses a taken name or bridge; set changes the metadata and says when a restart is needed; delete stops, undefines and releases', async () => {
  const n1 = sb.name('n1');
  const n2 = sb.name('n2');
  const created = await json(['network', 'create', n1, '--gateway', '10.0.0.1/24', '--dhcp', '10.0.0.100-10.0.0.199', '--start']);
  madeBridges.push(created.bridge);
  expect(created).toEqual({ network: n1, bridge: expect.stringMatching(/^virbr\d+$/), uuid: expect.stringMatching(/^[0-9a-f-]{36}$/), autostart: false, started: true, upstream: '198.51.100.100' });
  const live = (await libvirt.virsh('net-dumpxml', n1)).stdout;
  expect(live).toContain(`<bridge name='${created.bridge}' stp='off' delay='0'/>`);
  expect(live).toMatch(/<natns:private address="10\.0\.0\.1" prefix="24"\/>\s*<natns:upstream pool="default"\/>\s*<natns:dhcp start="10\.0\.0\.100" end="10\.0\.0\.199"\/>/);
  expect(await json(['list'])).toEqual([expect.objectContaining({ network: n1, bridge: created.bridge, state: 'up', upstream: expect.objectContaining({ address: '198.51.100.100' }) })]);

  const refused: [string[], RegExp][] = [
    [['network', 'create', n1, '--gateway', '10.0.0.1/24'], new RegExp(`^natns: libvirt already has a network named '${n1}'`)],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--bridge', created.bridge], new RegExp(`^natns: bridge ${created.bridge} belongs to libvirt network '${n1}'`)],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--bridge', provider], new RegExp(`^natns: a device named ${provider} already exists on this host`)],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--dhcp', '10.0.0.100'], /^natns: --dhcp wants START-END/],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--pool', 'nosuch'], /^natns: upstream pool 'nosuch' is not defined/],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--pool', 'default', '--upstream-address', '198.51.100.150'], /^natns network create: option '--pool <pool>' cannot be used with option '--upstream-address <a>'/],
    [['network', 'create', n2, '--gateway', '10.0.0.1/24', '--patch', 'tap'], /^natns network create: option '--patch <kind>' argument 'tap' is invalid/],
    [['network', 'create', n2], /^natns network create: required option '--gateway <cidr>' not specified/],
  ];
  for (const [args, message] of refused) {
    const r = await cli(args);
    expect({ args, code: r.code, out: r.out }).toEqual({ args, code: 2, out: '' });
    expect(r.err).toMatch(message);
  }
  expect((await libvirt.virsh('net-info', n2)).exitCode).not.toBe(0);

  // A fixed upstream address takes bridge, prefix and gateway from the pool whose subnet holds it.
  const b2 = sb.name('b2');
  const second = await cli(['network', 'create', n2, '--gateway', '10.0.0.1/24', '--upstream-address', '198.51.100.150', '--bridge', b2, '--patch', 'macvlan', '--autostart']);
  expect(second).toEqual({ code: 0, out: `defined network ${n2} on bridge ${b2} (autostart; not started: 'virsh net-start ${n2}')`, err: '' });
  const defined = (await libvirt.virsh('net-dumpxml', '--inactive', n2)).stdout;
  expect(defined).toContain(`<natns:upstream bridge="${provider}" address="198.51.100.150" prefix="24" gateway="198.51.100.1"/>`);
  expect(defined).toContain('<natns:patch type="macvlan"/>');
  expect((await libvirt.virsh('net-info', n2)).stdout).toMatch(/Active:\s+no[\s\S]*Autostart:\s+yes/);

  // set on a running network: defined, not yet applied.
  const set = await json(['network', 'set', n1, '--pool', 'spare']);
  expect(set).toEqual({ network: n1, changed: true, active: true, restartNeeded: true });
  expect((await cli(['network', 'set', n1, '--pool', 'spare'])).out).toBe(`network ${n1}: already so, nothing changed`);
  expect(await json(['show', n1])).toMatchObject({ pendingChange: true, upstream: { address: '198.51.100.100' } });
  expect((await cli(['show', n1])).out).toContain(`Pending change:  its definition differs from what runs; restart to apply: virsh net-destroy ${n1} && virsh net-start ${n1}`);
  expect((await libvirt.virsh('net-destroy', n1)).exitCode).toBe(0);
  expect((await libvirt.virsh('net-start', n1)).exitCode).toBe(0);
  const shown = await json(['show', n1]);
  expect(shown.pendingChange).toBeUndefined();
  expect(shown).toMatchObject({ state: 'up', upstream: { address: '198.51.100.200', pool: 'spare' } });
  // The old address went back to its pool.
  expect((await json(['pool', 'show', 'default'])).leases).toEqual([]);

  // set on a stopped network: the next start uses it.
  expect(await json(['network', 'set', n2, '--dhcp', '10.0.0.50-10.0.0.60'])).toEqual({ network: n2, changed: true, active: false, restartNeeded: false });
  expect((await libvirt.virsh('net-dumpxml', '--inactive', n2)).stdout).toContain('<natns:dhcp start="10.0.0.50" end="10.0.0.60"/>');
  expect((await cli(['network', 'set', n2, '--no-dhcp'])).out).toBe(`changed network ${n2}; its next start uses the change`);
  expect((await libvirt.virsh('net-dumpxml', '--inactive', n2)).stdout).not.toContain('dhcp');
  expect((await cli(['network', 'set', n2, '--dhcp', '10.0.0.250-10.0.0.10'])).code).toBe(2);
  expect((await cli(['network', 'set', n2])).err).toBe('natns: natns network set needs something to change: --pool, --upstream-address, --dhcp or --no-dhcp');

  // A guest plugged in (libvirt's port event, as the hook gets it) holds the delete back.
  const port = { port: randomUUID(), vm: sb.name('vm1'), vmUuid: randomUUID(), mac: '52:54:00:ee:00:01' };
  const liveXml = (await libvirt.virsh('net-dumpxml', n1)).stdout;
  expect((await sb.hook([n1, 'port-created', 'begin', '-'], portHookData(hookData(liveXml), port))).exitCode).toBe(0);
  expect(await cli(['network', 'delete', n1])).toEqual({
    code: 2, out: '', err: `natns: network '${n1}' has guests attached (${port.vm}); stop or move them first, or delete it with --force`,
  });
  expect((await libvirt.virsh('net-info', n1)).stdout).toMatch(/Active:\s+yes/);

  // delete: stopped, undefined, released; the router and the bridge are gone.
  const deleted = await cli(['network', 'delete', n1, '--force']);
  expect(deleted).toEqual({ code: 0, out: `stopped network ${n1}\nundefined network ${n1}\nreleased 198.51.100.200 of network ${n1}`, err: '' });
  expect((await libvirt.virsh('net-info', n1)).exitCode).not.toBe(0);
  // n2 stays defined, never started: list shows it as stopped, with no upstream yet.
  expect(await json(['list'])).toEqual([expect.objectContaining({ network: n2, state: 'stopped', bridge: b2 })]);
  expect(await json(['pool', 'list'])).toMatchObject([{ pool: 'default', used: 0 }, { pool: 'spare', used: 0 }]);
  expect(existsSync(`/sys/class/net/${created.bridge}`)).toBe(false);
  expect(await sb.leftovers()).toEqual([]);
  expect((await cli(['network', 'delete', n2])).out).toBe(`undefined network ${n2}`);
  expect((await cli(['network', 'delete', n2])).code).toBe(2);
});
