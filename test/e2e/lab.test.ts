import { join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import { openDomains } from '../../src/libvirt/domains.js';
import { namespaceName } from '../../src/domain/names.js';
import { paths } from '../../src/sys/paths.js';
import { assertInstalledHooksCurrent, ensureLibvirtd, labLeftovers, restartLibvirtd, systemCli, virsh } from '../helpers/libvirt.js';
import { CLI, Sandbox, sh } from '../helpers/sandbox.js';
import { readFileSync } from 'node:fs';

/**
 * The whole point of natns, through a real libvirtd and real QEMU guests: three networks all
 * 10.0.0.0/24, three guests all 10.0.0.100, one upstream host that must see three different
 * source addresses, exactly the ones `natns list` reports.
 */
interface Mapping { network: string; uuid: string; state: string; namespace: string; upstream: { address: string } }

let sb: Sandbox;
let lab: Lab;

beforeAll(async () => {
  await ensureLibvirtd();
  assertInstalledHooksCurrent();
  sb = new Sandbox();
  lab = new Lab({ prefix: sb.id, networks: 3, macvlan: [3], natnsCommand: [process.execPath, CLI] });
});

afterAll(async () => {
  await lab.down().catch(() => undefined);
  await sb.cleanup();
});

function logText(): string {
  try {
    return readFileSync(join(paths.log(), 'natns.log'), 'utf8');
  } catch {
    return '';
  }
}

async function mappings(): Promise<Mapping[]> {
  const r = await systemCli(['list', '--json']);
  expect(r.exitCode).toBe(0);
  return (JSON.parse(r.stdout) as Mapping[]).filter((m) => m.network.startsWith(`${sb.id}-`));
}

test('three guests with the same address on three networks with the same subnet, through libvirt', async () => {
  await lab.up();
  const probes = await lab.waitForGuests();
  const before = await mappings();
  expect(before.map((m) => [m.network, m.state])).toEqual([1, 2, 3].map((i) => [`${sb.id}-net${i}`, 'up']));
  const leased = before.map((m) => m.upstream.address).sort();
  expect(new Set(leased).size).toBe(3);
  for (const p of probes) {
    expect(p.up).toBe('10.0.0.100/24');
    expect(p.ping).toBe(true);
  }
  // Each guest was answered with the source address its own network's mapping names.
  expect(probes.map((p) => p.tcp)).toEqual(before.map((m) => `hello ${m.upstream.address}`));
  expect(lab.upstreamSources()).toEqual(leased);
  // Network 3 joins its bridges with macvlans (on libvirt's own bridge, next to the guest's tap).
  const links = JSON.parse((await sh('ip', ['-n', namespaceName(`${sb.id}-net3`), '-d', '-j', 'link', 'show'])).stdout) as { ifname: string; linkinfo?: { info_kind?: string } }[];
  expect(links.filter((l) => l.ifname !== 'lo').map((l) => [l.ifname, l.linkinfo?.info_kind])).toEqual([['lan', 'macvlan'], ['wan', 'macvlan']]);

  // Inbound: each guest's forward (declared in its domain metadata) reaches that guest, and
  // natns show lists it as attached, with the address DHCP gave it.
  for (const [i, m] of before.entries()) {
    expect(await lab.fetchThroughForward(m.upstream.address)).toBe(`guest ${lab.network(i + 1).guest}`);
    const show = JSON.parse((await systemCli(['show', m.network, '--json'])).stdout);
    expect(show.guests).toEqual([expect.objectContaining({ vm: lab.network(i + 1).guest, address: '10.0.0.100' })]);
    expect(show.forwards).toEqual([expect.objectContaining({ proto: 'tcp', port: 8080, to: '10.0.0.100', toPort: 80 })]);
    expect(show.differences).toEqual([]);
  }

  // libvirtd restarts under running networks and guests: mappings and traffic carry on.
  const seq = lab.probeCount();
  const logSize = logText().length;
  await restartLibvirtd();
  // libvirtd re-runs the qemu hook (`reconnect begin`) for each running guest, in the background.
  for (let i = 0; i < 200 && (logText().slice(logSize).match(/"guest reconnect begin"/g) ?? []).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  expect((logText().slice(logSize).match(/"guest reconnect begin"/g) ?? []).length).toBe(3);
  expect(await mappings()).toEqual(before);
  await lab.waitForGuests(60_000, seq + 1);
  expect(lab.upstreamSources()).toEqual(leased);

  // natns check --repair: breaks are found read-only, repaired from libvirt's live XML, and a
  // second repair has nothing left to do. The repair is scoped to the broken network: a
  // machine-wide repair would also remove the natns objects of every other test run on this
  // machine (their namespaces and veths belong to no network of the system's state), so the
  // stray namespace is only looked for here; test/integration/repair.test.ts removes strays.
  const victim = before[1]!;
  await sh('ip', ['netns', 'exec', victim.namespace, 'nft', 'delete', 'table', 'ip', 'natns']);
  process.kill(Number(readFileSync(join(paths.state(), 'dhcp', victim.uuid, 'dnsmasq.pid'), 'utf8')), 'SIGKILL');
  const stray = `natns-${sb.id}-stray`;
  await sh('ip', ['netns', 'add', stray]);
  const broken = await systemCli(['check']);
  expect(broken.exitCode).toBe(1);
  expect(broken.stdout).toContain(`${victim.network}: nft table ip natns is missing`);
  expect(broken.stdout).toContain(`${victim.network}: dnsmasq is not running`);
  expect(broken.stdout).toContain(`namespace ${stray} belongs to no network`);
  await sh('ip', ['netns', 'del', stray]);
  const repaired = await systemCli(['check', victim.network, '--repair']);
  expect({ code: repaired.exitCode, err: repaired.stderr }).toEqual({ code: 0, err: '' });
  expect(repaired.stdout).toContain(`converged network ${victim.network}`);
  const again = await systemCli(['check', victim.network, '--repair']);
  expect({ code: again.exitCode, out: again.stdout }).toEqual({ code: 0, out: 'nothing to repair' });
  expect(await mappings()).toEqual(before);
  await lab.waitForGuests(60_000, lab.probeCount() + 1);

  // A network stopped and started again gets the same upstream address.
  const net1 = lab.network(1);
  const domains = await openDomains();
  await domains.remove(net1.guest);
  await domains.close();
  expect((await virsh('net-destroy', net1.name)).exitCode).toBe(0);
  expect((await mappings())[0]!.state).toBe('stopped');
  expect((await virsh('net-start', net1.name)).exitCode).toBe(0);
  expect((await mappings())[0]).toEqual(before[0]);

  // virsh destroy, net-destroy and net-undefine, then natns gc: nothing of natns is left.
  const d = await openDomains();
  for (const i of lab.indexes) await d.remove(lab.network(i).guest);
  await d.close();
  for (const i of lab.indexes) {
    expect((await virsh('net-destroy', lab.network(i).name)).exitCode).toBe(0);
    expect((await virsh('net-undefine', lab.network(i).name)).exitCode).toBe(0);
  }
  expect((await systemCli(['gc'])).exitCode).toBe(0);
  expect(await mappings()).toEqual([]);
  expect(await labLeftovers(before, lab.provider)).toEqual([]);
}, 300_000);
