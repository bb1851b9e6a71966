import { execa } from 'execa';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { defineNet, expectStarted, poolSandbox } from '../helpers/hooknet.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * `natns check` and `natns check --repair` when something broke behind natns's back. Where
 * libvirt's word matters, a libvirtd of the test's own (test/helpers/private-libvirtd.ts) runs
 * this build's hook, so networks are started, reported active or inactive, and fail by a real
 * libvirt, never the machine's own.
 */
let sb: Sandbox;
let provider: string;
let upstream: string;
let libvirt: PrivateLibvirtd | undefined;

beforeEach(async () => {
  ({ sb, provider, upstream } = await poolSandbox(true));
  await sb.recorder(upstream, 8080);
});

afterEach(async () => {
  await libvirt?.stop();
  libvirt = undefined;
  await sb.cleanup();
});

const DHCP = '<natns:dhcp start="10.0.0.150" end="10.0.0.159"/>';

async function privateLibvirtd(): Promise<PrivateLibvirtd> {
  libvirt = new PrivateLibvirtd(sb);
  await libvirt.start();
  return libvirt;
}

/** A UDP socket bound inside `ns` (no SO_REUSEADDR), held until the sandbox is cleaned up. */
async function occupyUdp(ns: string, address: string, port: number): Promise<() => void> {
  const script = `require('dgram').createSocket('udp4').bind(${port}, '${address}', () => console.log('ready'))`;
  const child = execa('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { reject: false, buffer: false });
  sb.children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
    void child.then((r) => reject(new Error(`could not bind ${address}:${port} in ${ns}: ${String(r.stderr)}`)));
  });
  return () => void child.kill('SIGKILL');
}

function dnsmasqPidOf(uuid: string): number {
  return Number(readFileSync(join(sb.env.NATNS_STATE_DIR!, 'dhcp', uuid, 'dnsmasq.pid'), 'utf8'));
}

/** dnsmasq processes started for this sandbox, wherever they run. */
async function dnsmasqs(): Promise<string[]> {
  return (await sh('pgrep', ['-f', '--', `--conf-file=${sb.env.NATNS_STATE_DIR}/`])).stdout.split('\n').filter(Boolean);
}

test('repair of an active network whose dnsmasq cannot start keeps the router forwarding, says why, exits 1, and check keeps reporting it', async () => {
  const lv = await privateLibvirtd();
  const net = await lv.define('1', { extra: DHCP });
  expect((await lv.virsh('net-start', net.name)).exitCode).toBe(0);
  const ns = namespaceName(net.name);
  const guest = await sb.host('g1', net.bridge, '');
  expect(await sb.dhcp(guest)).toMatch(/^10\.0\.0\.15\d$/);
  expect(await sb.connect(guest, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d$/);

  // dnsmasq dies, and something else takes its DNS port on the private address.
  process.kill(dnsmasqPidOf(net.uuid), 'SIGKILL');
  const free = await occupyUdp(ns, '10.0.0.1', 53);
  const repaired = await lv.cli(['check', net.name, '--repair']);
  expect(repaired.exitCode).toBe(1);
  // The router stays: libvirt calls the network active, and guest traffic still goes out...
  expect(await lv.active(net.name)).toBe('yes');
  expect(await sb.connect(guest, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d$/);
  // ...and repair says what it could not fix, in one line, and what is still wrong.
  expect(repaired.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(new RegExp(`^natns: network '${net.name}': dnsmasq could not start in ${ns}: .*Address already in use.*; the router is left up without DHCP: fix that and run 'natns check --repair' again$`)),
  ]);
  expect(repaired.stdout.trim()).toBe(`${net.name}: dnsmasq is not running in ${ns}`);
  // ...while DHCP, the part that could not be repaired, is down and reported.
  const late = await sb.host('g2', net.bridge, '');
  await expect(sb.dhcp(late)).rejects.toThrow(/got no lease/);
  const check = await lv.cli(['check', net.name]);
  expect({ code: check.exitCode, out: check.stdout.trim() }).toEqual({ code: 1, out: `${net.name}: dnsmasq is not running in ${ns}` });

  // Once the port is free, the next repair brings DHCP back.
  free();
  await new Promise((r) => setTimeout(r, 200));
  const again = await lv.cli(['check', net.name, '--repair']);
  expect({ code: again.exitCode, err: again.stderr }).toEqual({ code: 0, err: '' });
  expect(await sb.dhcp(late)).toMatch(/^10\.0\.0\.15\d$/);
  expect((await lv.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
});

test('a failed start is reported by check until the network starts again', async () => {
  const lv = await privateLibvirtd();
  const net = await lv.define('1');
  const blocker = hostDeviceNames(net.uuid).wan;
  await sh('ip', ['link', 'add', blocker, 'type', 'bridge']);
  const failed = await lv.virsh('net-start', net.name);
  expect(failed.exitCode).not.toBe(0);
  expect(failed.stderr).toContain(`${blocker} exists as a bridge`);
  await sh('ip', ['link', 'del', blocker]);
  // Nothing of the router is left and libvirt calls the network inactive: still a finding.
  expect(await lv.active(net.name)).toBe('no');
  expect(await sb.leftovers()).toEqual([]);
  const check = await lv.cli(['check', net.name]);
  expect({ code: check.exitCode, out: check.stdout.trim() }).toEqual({
    code: 1,
    out: expect.stringMatching(new RegExp(`^${net.name}: its last start failed \\(the reason is in .*natns\\.log\\); start it again with 'virsh net-start ${net.name}' once that is fixed$`)),
  });
  expect((await lv.virsh('net-start', net.name)).exitCode).toBe(0);
  expect((await lv.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
});

test('a dnsmasq left in a deleted namespace is not taken for the router\'s: check reports DHCP down, and a rebuild serves leases again', async () => {
  const net = defineNet(sb, '1');
  net.xml = net.xml.replace('</natns:nat>', `${DHCP}</natns:nat>`);
  await expectStarted(sb, net);
  const ns = namespaceName(net.name);
  const stale = dnsmasqPidOf(net.uuid);
  // Behind natns's back: the namespace goes, its dnsmasq lives on in the now anonymous one.
  expect((await sh('ip', ['netns', 'del', ns])).exitCode).toBe(0);
  expect(await dnsmasqs()).toEqual([String(stale)]);
  const check = await sb.cli(['check', net.name]);
  expect(check.exitCode).toBe(1);
  expect(check.stdout).toContain(`${net.name}: dnsmasq is not running in ${ns}`);

  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  const guest = await sb.host('g1', net.bridge, '');
  expect(await sb.dhcp(guest)).toMatch(/^10\.0\.0\.15\d$/);
  expect(await sb.connect(guest, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d$/);
  // The stale one is gone, not leaked beside the new one.
  expect(await dnsmasqs()).toEqual([String(dnsmasqPidOf(net.uuid))]);
  expect(dnsmasqPidOf(net.uuid)).not.toBe(stale);
  expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
});

test('libvirtd killed in the middle of net-start: the router it leaves is reported, and repair removes it while an active network keeps forwarding', async () => {
  const lv = await privateLibvirtd();
  const [dead, live] = [await lv.define('1'), await lv.define('2')];
  expect((await lv.virsh('net-start', live.name)).exitCode).toBe(0);
  // natns's `started` hook has built the router; libvirt dies before it marks the network active.
  writeFileSync(lv.pauseFile, '');
  const starting = lv.virsh('net-start', dead.name);
  await lv.waitPaused();
  await lv.killDaemon();
  rmSync(lv.pauseFile);
  expect((await starting).exitCode).not.toBe(0);
  await lv.startDaemon();
  expect(await lv.active(dead.name)).toBe('no');

  // The router is up and still forwards guest traffic for a network libvirt calls inactive.
  const g1 = await sb.host('g1', dead.bridge, '10.0.0.100/24', '10.0.0.1');
  const g2 = await sb.host('g2', live.bridge, '10.0.0.100/24', '10.0.0.1');
  expect(await sb.reaches(g1, '198.51.100.1', 8080)).toBe(true);
  const check = await lv.cli(['check', dead.name]);
  expect(check.exitCode).toBe(1);
  expect(check.stdout.trim()).toBe(
    `${dead.name}: libvirt does not report it active, but its router is up (namespace ${namespaceName(dead.name)}, ${hostDeviceNames(dead.uuid).lan}, ${hostDeviceNames(dead.uuid).wan}): 'natns check --repair' removes it`,
  );

  const repaired = await lv.cli(['check', dead.name, '--repair']);
  expect({ code: repaired.exitCode, out: repaired.stdout.trim(), err: repaired.stderr }).toEqual({ code: 0, out: `removed the router of inactive network ${dead.name}`, err: '' });
  expect(await sb.reaches(g1, '198.51.100.1', 8080)).toBe(false);
  expect(await sb.reaches(g2, '198.51.100.1', 8080)).toBe(true);
  expect((await lv.cli(['check', dead.name])).stdout).toBe('ok: the kernel matches the plan');
  expect((await lv.cli(['check', live.name])).stdout).toBe('ok: the kernel matches the plan');
  // libvirt can start it again (natns clears the bridge libvirt left behind when it died, once
  // the test guest is off it).
  await sh('ip', ['link', 'del', `${g1}h`]);
  expect((await lv.virsh('net-start', dead.name)).exitCode).toBe(0);
  expect(await lv.active(dead.name)).toBe('yes');
});

test('without an answer from libvirt, check says so in one line and checks the rest; repair refuses', async () => {
  const lv = await privateLibvirtd();
  const net = await lv.define('1');
  expect((await lv.virsh('net-start', net.name)).exitCode).toBe(0);
  await sh('ip', ['-n', namespaceName(net.name), 'route', 'del', 'default']);
  await lv.killDaemon();
  const check = await lv.cli(['check', net.name]);
  expect(check.exitCode).toBe(1);
  expect(check.stdout.trim()).toBe(`${net.name}: route default via 198.51.100.1 dev wan is missing`);
  expect(check.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^natns: could not ask libvirt which networks are active \(.+\); checked against natns's own records only$/)]);
  const repair = await lv.cli(['check', net.name, '--repair']);
  expect(repair.exitCode).toBe(1);
  expect(repair.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^natns: cannot repair without libvirt: .+; start libvirtd, then run 'natns check --repair' again$/)]);
});

test('a start refused at start begin keeps nothing that a repair would have to clean', async () => {
  const net = defineNet(sb, '1');
  // A bridge of that name that natns did not leave behind: refused.
  await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  const refused = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(refused.exitCode).toBe(2);
  let leases: string[] = [];
  try {
    leases = readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases', provider)).filter((n) => !n.startsWith('.'));
  } catch {
    // No lease folder at all: nothing kept.
  }
  expect(leases).toEqual([]);
  const check = await sb.cli(['check']);
  expect(check.stdout.split('\n').filter((l) => l.includes(provider))).toEqual([]);
});
