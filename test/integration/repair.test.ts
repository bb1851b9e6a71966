import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { namespaceName } from '../../src/domain/names.js';
import { defineNet, expectStarted, poolSandbox } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/** `natns check` and its repairs, when something broke behind natns's back. */
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
  await sb.recorder(upstream, 8080);
});

afterEach(async () => {
  await sb.cleanup();
});

const DHCP = '<natns:dhcp start="10.0.0.150" end="10.0.0.159"/>';

function dnsmasqPidOf(uuid: string): number {
  return Number(readFileSync(join(sb.env.NATNS_STATE_DIR!, 'dhcp', uuid, 'dnsmasq.pid'), 'utf8'));
}

/** dnsmasq processes started for this sandbox, wherever they run. */
async function dnsmasqs(): Promise<string[]> {
  return (await sh('pgrep', ['-f', '--', `--conf-file=${sb.env.NATNS_STATE_DIR}/`])).stdout.split('\n').filter(Boolean);
}

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
