import { hostDeviceNames } from '../../src/domain/names.js';
import { assertInstalledHooksCurrent, ensureLibvirtd, systemCli, virsh } from '../helpers/libvirt.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { networkXml } from '../helpers/xml.js';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Through a real libvirtd and the installed hooks. libvirt 9 leaves a network's bridge behind
 * when its `started` hook fails, which used to block every later `virsh net-start` with
 * "File exists": this is that exact sequence.
 */
let sb: Sandbox;
const defined: string[] = [];

beforeAll(async () => {
  await ensureLibvirtd();
  assertInstalledHooksCurrent();
});

beforeEach(() => {
  sb = new Sandbox();
});

afterEach(async () => {
  for (const name of defined.splice(0)) {
    await virsh('net-destroy', name);
    await virsh('net-undefine', name);
    await systemCli(['release', name]);
  }
  await sb.cleanup();
});

async function defineNetwork(xml: string, name: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'natns-e2e-'));
  try {
    writeFileSync(join(dir, 'net.xml'), xml);
    defined.push(name);
    const r = await virsh('net-define', join(dir, 'net.xml'));
    expect(r.stderr).toBe('');
    return (await virsh('net-uuid', name)).stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a failed start through libvirt leaves no bridge behind, and the next net-start works', async () => {
  const provider = await sb.bridge('pb');
  const net = sb.network('lv');
  const bridge = sb.name('lb');
  const upstream = `<natns:upstream bridge="${provider}" address="198.51.100.120" prefix="24" gateway="198.51.100.1"/>`;
  const xml = networkXml({ name: net.name, uuid: net.uuid, bridge, upstream });
  const uuid = await defineNetwork(xml, net.name);
  expect(uuid).toBe(net.uuid);

  const blocker = hostDeviceNames(uuid).wan;
  expect((await sh('ip', ['link', 'add', blocker, 'type', 'bridge'])).exitCode).toBe(0);
  try {
    const failed = await virsh('net-start', net.name);
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toContain(`natns: network '${net.name}': building its router failed: ${blocker} exists as a bridge`);
    expect((await sh('ip', ['link', 'show', bridge])).exitCode).not.toBe(0);
    expect((await virsh('net-info', net.name)).stdout).toMatch(/Active:\s+no/);
  } finally {
    await sh('ip', ['link', 'del', blocker]);
  }

  const started = await virsh('net-start', net.name);
  expect({ code: started.exitCode, err: started.stderr }).toEqual({ code: 0, err: '' });
  const list = JSON.parse((await systemCli(['list', '--json'])).stdout) as { network: string; state: string; upstream: { address: string } }[];
  expect(list.find((m) => m.network === net.name)).toMatchObject({ state: 'up', upstream: { address: '198.51.100.120' } });

  expect((await virsh('net-destroy', net.name)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
});

test("a running libvirt network that is not natns's, with a name natns would refuse for its own, never fails natns check --repair", async () => {
  const name = `${sb.id} a plain network with spaces, longer than natns allows its own`;
  await defineNetwork(`<network><name>${name}</name><bridge name='${sb.name('pl')}'/></network>`, name);
  expect((await virsh('net-start', name)).exitCode).toBe(0);
  // A dry run walks every libvirt network as the repair does, and touches nothing: a real host-wide
  // repair would also remove other test runs' routers on a shared machine. It may find those (exit
  // 1), but never refuses this network (exit 2) nor names it.
  const repaired = await systemCli(['check', '--repair', '--dry-run']);
  expect([0, 1]).toContain(repaired.exitCode);
  expect(`${repaired.stdout}${repaired.stderr}`).not.toContain(sb.id);
});

test("with natns agent running, libvirt's hook calls are served by it: the network starts and stops as with the hooks alone", async () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NATNS_')));
  const status = async () => JSON.parse((await systemCli(['agent', 'status', '--json'])).stdout) as { running: boolean; pid: number | null };
  // An agent this machine already runs serves the calls just as well; otherwise the test runs one.
  const own = (await status()).running ? undefined : execa('natns', ['agent'], { env, extendEnv: false, reject: false });
  try {
    for (let i = 0; i < 100 && !(await status()).running; i++) await new Promise((r) => setTimeout(r, 50));
    const { pid } = await status();
    expect(pid).toEqual(expect.any(Number));
    const provider = await sb.bridge('pb');
    const net = sb.network('ag');
    const upstream = `<natns:upstream bridge="${provider}" address="198.51.100.121" prefix="24" gateway="198.51.100.1"/><natns:dhcp start="10.0.0.100" end="10.0.0.199"/>`;
    await defineNetwork(networkXml({ name: net.name, uuid: net.uuid, bridge: sb.name('ab'), upstream }), net.name);
    const started = await virsh('net-start', net.name);
    expect({ code: started.exitCode, err: started.stderr }).toEqual({ code: 0, err: '' });
    const list = JSON.parse((await systemCli(['list', '--json'])).stdout) as { network: string; state: string }[];
    expect(list.find((m) => m.network === net.name)).toMatchObject({ state: 'up' });
    expect((await virsh('net-destroy', net.name)).exitCode).toBe(0);
    expect(await sb.leftovers()).toEqual([]);
    // Every hook event of this network was logged by the agent's process.
    const events = readFileSync('/var/log/natns/natns.log', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { network?: string; message: string; pid: number })
      .filter((l) => l.network === net.name);
    expect(events.map((e) => e.message)).toEqual(['network start begin', 'network started begin', 'network stopped end']);
    expect(new Set(events.map((e) => e.pid))).toEqual(new Set([pid]));
  } finally {
    own?.kill('SIGTERM');
    await own;
  }
});
