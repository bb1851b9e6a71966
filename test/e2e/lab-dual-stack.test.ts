import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { proofRows } from '../../src/cli/demo.js';
import { linkLocalFromMac } from '../../src/domain/address.js';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { Lab } from '../../src/lab/lab.js';
import { paths } from '../../src/sys/paths.js';
import { assertInstalledHooksCurrent, ensureLibvirtd, systemCli } from '../helpers/libvirt.js';
import { CLI, Sandbox, sh } from '../helpers/sandbox.js';

/**
 * Dual stack through a real libvirtd and real QEMU guests, as `natns demo` runs it: two networks
 * both 10.0.0.0/24 and fd00::/64 (the second with macvlan patches), one guest on each that takes
 * 10.0.0.100 by DHCP and its IPv6 address by SLAAC from the namespace's dnsmasq, and one upstream
 * host that must see two different sources in each family, exactly the ones `natns list` reports.
 */
interface Mapping {
  network: string; uuid: string; state: string; namespace: string; private6: string;
  upstream: { address: string }; upstream6: { address: string; prefix: number; mode: string; pool: string };
}

let sb: Sandbox;
let lab: Lab;

beforeAll(async () => {
  await ensureLibvirtd();
  assertInstalledHooksCurrent();
  sb = new Sandbox();
  lab = new Lab({ prefix: sb.id, networks: 2, macvlan: [2], ipv6: true, natnsCommand: [process.execPath, CLI] });
});

afterAll(async () => {
  await lab.down().catch(() => undefined);
  await sb.cleanup();
});

async function mappings(): Promise<Mapping[]> {
  const r = await systemCli(['list', '--json']);
  expect(r.exitCode).toBe(0);
  return (JSON.parse(r.stdout) as Mapping[]).filter((m) => m.network.startsWith(`${sb.id}-`));
}

/** The address the guest's kernel makes by SLAAC in fd00::/64: the prefix and its MAC's modified EUI-64. */
const slaac = (mac: string) => `${linkLocalFromMac(mac).replace(/^fe80::/, 'fd00::')}/64`;

test('two guests take IPv6 by SLAAC from their namespaces through libvirt and reach the upstream host over both families from distinct upstream addresses', async () => {
  const started = Date.now();
  await lab.up();
  const probes = await lab.waitForGuests();
  console.log(`dual-stack lab: 2 networks and 2 guests up, both families reached upstream, in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const maps = await mappings();
  expect(maps.map((m) => [m.network, m.state, m.private6])).toEqual([1, 2].map((i) => [`${sb.id}-net${i}`, 'up', 'fd00::1/64']));
  for (const m of maps) expect(m.upstream6).toMatchObject({ prefix: 64, mode: 'nat66', pool: lab.pool6 });
  const leased6 = maps.map((m) => m.upstream6.address);
  expect(new Set(leased6).size).toBe(2);

  for (const [i, p] of probes.entries()) {
    const n = lab.network(i + 1);
    expect(p.up).toBe('10.0.0.100/24');
    expect(p.up6).toBe(slaac(n.mac));
    expect([p.ping, p.ping6]).toEqual([true, true]);
    // Each guest was answered with the source its own network's mapping names, in each family.
    expect(p.tcp).toBe(`hello ${maps[i]!.upstream.address}`);
    expect(p.tcp6).toBe(`hello ${maps[i]!.upstream6.address}`);
  }
  expect(lab.upstreamSources()).toEqual([...maps.map((m) => m.upstream.address), ...leased6].sort());
  // What natns demo prints as its proof, from these probes.
  expect(proofRows(probes)).toEqual(probes.flatMap((p, i) => [
    [p.guest, 'IPv4', '10.0.0.100/24', 'ok', maps[i]!.upstream.address],
    [p.guest, 'IPv6', `${slaac(lab.network(i + 1).mac)} (SLAAC)`, 'ok', maps[i]!.upstream6.address],
  ]));
  // Both routers are as planned, IPv6 side included.
  for (const m of maps) {
    const show = JSON.parse((await systemCli(['show', m.network, '--json'])).stdout);
    expect(show.differences).toEqual([]);
  }
  // Network 2 joins its bridges with macvlans, and IPv6 crosses them too.
  const links = JSON.parse((await sh('ip', ['-n', namespaceName(`${sb.id}-net2`), '-d', '-j', 'link', 'show'])).stdout) as { ifname: string; linkinfo?: { info_kind?: string } }[];
  expect(links.filter((l) => l.ifname !== 'lo').map((l) => [l.ifname, l.linkinfo?.info_kind])).toEqual([['lan', 'macvlan'], ['wan', 'macvlan']]);

  // Down: nothing of natns is left, and both families' leases went back to their pools.
  await lab.down();
  expect(await mappings()).toEqual([]);
  const leftovers: string[] = [];
  for (const m of maps) {
    if (existsSync(`/run/netns/${namespaceName(m.network)}`)) leftovers.push(`namespace ${m.namespace}`);
    for (const dev of Object.values(hostDeviceNames(m.uuid))) {
      if ((await sh('ip', ['link', 'show', dev])).exitCode === 0) leftovers.push(`link ${dev}`);
    }
  }
  const leaseDir = join(paths.state(), 'leases', lab.provider);
  if (existsSync(leaseDir)) leftovers.push(...readdirSync(leaseDir).filter((a) => !a.startsWith('.')).map((a) => `lease ${a}`));
  expect(leftovers).toEqual([]);
}, 300_000);
