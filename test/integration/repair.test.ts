import { readFileSync } from 'node:fs';
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
let upstream: string;
let libvirt: PrivateLibvirtd | undefined;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
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

function dnsmasqPidOf(uuid: string): number {
  return Number(readFileSync(join(sb.env.NATNS_STATE_DIR!, 'dhcp', uuid, 'dnsmasq.pid'), 'utf8'));
}

/** dnsmasq processes started for this sandbox, wherever they run. */
async function dnsmasqs(): Promise<string[]> {
  return (await sh('pgrep', ['-f', '--', `--conf-file=${sb.env.NATNS_STATE_DIR}/`])).stdout.split('\n').filter(Boolean);
}

test('a failed start is reported by check until the network starts again', async () => {
  const lv = await privateLibvirtd();
  const net = await lv.define('1');
  const blocker = hostDeviceNames(net.uuid).wan;
  await sh('ip', ['link', 'add', blocker, 'type', 'bridge']);
  const failed = await lv.virsh('net-start', net.name);
  expect(failed.exitCode).not.toBe(0);
  expect(failed.stderr).toContain(`${blocker} exists as a bridge`);
  expect(await lv.active(net.name)).toBe('no');
  const check = await lv.cli(['check', net.name]);
  expect(check.exitCode).toBe(1);
  expect(check.stdout.trim()).toMatch(new RegExp(`^${net.name}: its last start failed \\(the reason is in .*natns\\.log\\); start it again with 'virsh net-start ${net.name}' once that is fixed$`));
  await sh('ip', ['link', 'del', blocker]);
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
