import { execa } from 'execa';
import { namespaceName } from '../../src/domain/names.js';
import { defineNet, expectStarted, netDestroy, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { CLI, type Sandbox, sh } from '../helpers/sandbox.js';
import { hookData, networkXml } from '../helpers/xml.js';

/**
 * `natns list` says what `natns check` would (issue 16, items 3 and 8): a router broken behind
 * natns's back is `drift`, not `up`; a network that should run but has no router is `down`; a
 * stopped one is `stopped`, and so is one libvirt defines that natns never started. Its table
 * fits 80 columns, and is coloured on a terminal only, never with NO_COLOR.
 */
let sb: Sandbox;
let libvirt: PrivateLibvirtd | undefined;

beforeEach(async () => {
  ({ sb } = await poolSandbox(false));
});

afterEach(async () => {
  await libvirt?.stop();
  libvirt = undefined;
  await sb.cleanup();
});

async function states(): Promise<Record<string, string>> {
  const r = await sb.cli(['list', '--json']);
  expect(r.exitCode).toBe(0);
  return Object.fromEntries((JSON.parse(r.stdout) as { network: string; state: string }[]).map((m) => [m.network, m.state]));
}

async function checkSays(net: TestNet): Promise<{ code: number; out: string }> {
  const r = await sb.cli(['check', net.name]);
  return { code: r.exitCode ?? -1, out: r.stdout };
}

test('list states follow the kernel as check sees it: up, drift (nft table, default route, a side down), down, stopped', async () => {
  const a = defineNet(sb, '1');
  const b = defineNet(sb, '2');
  await expectStarted(sb, a);
  await expectStarted(sb, b);
  expect(await states()).toEqual({ [a.name]: 'up', [b.name]: 'up' });
  expect((await checkSays(a)).code).toBe(0);

  const ns = namespaceName(a.name);
  // The nft table deleted: drift, and check agrees.
  await sh('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'natns']);
  expect(await states()).toEqual({ [a.name]: 'drift', [b.name]: 'up' });
  expect(await checkSays(a)).toEqual({ code: 1, out: expect.stringContaining('nft table ip natns is missing') });
  await netDestroy(sb, a);
  await expectStarted(sb, a);
  expect(await states()).toEqual({ [a.name]: 'up', [b.name]: 'up' });

  // The default route gone, then a side down.
  await sh('ip', ['-n', ns, 'route', 'del', 'default']);
  expect((await states())[a.name]).toBe('drift');
  expect((await checkSays(a)).code).toBe(1);
  await netDestroy(sb, a);
  await expectStarted(sb, a);
  await sh('ip', ['-n', ns, 'link', 'set', 'wan', 'down']);
  expect((await states())[a.name]).toBe('drift');
  expect((await checkSays(a)).code).toBe(1);

  // The namespace deleted under a running network: nothing of the router is left, it should run: down.
  await sh('ip', ['netns', 'del', ns]);
  expect((await states())[a.name]).toBe('down');
  // Stopped cleanly: stopped.
  await netDestroy(sb, b);
  expect((await states())[b.name]).toBe('stopped');
});

test('networks libvirt defines but does not run are listed, as stopped', async () => {
  libvirt = new PrivateLibvirtd(sb);
  await libvirt.start();
  const never = await libvirt.define('n1');
  const ran = await libvirt.define('n2');
  expect((await libvirt.virsh('net-start', ran.name)).exitCode).toBe(0);
  const list = JSON.parse((await libvirt.cli(['list', '--json'])).stdout) as { network: string; state: string; private?: string; upstream?: unknown }[];
  expect(list.map((m) => [m.network, m.state, m.private, m.upstream === undefined])).toEqual([
    [never.name, 'stopped', '10.0.0.1/24', true],
    [ran.name, 'up', '10.0.0.1/24', false],
  ]);
  expect((await libvirt.virsh('net-destroy', ran.name)).exitCode).toBe(0);
  const after = JSON.parse((await libvirt.cli(['list', '--json'])).stdout) as { network: string; state: string }[];
  expect(after.map((m) => m.state)).toEqual(['stopped', 'stopped']);
});

test('the list table fits 80 columns (--wide has everything), and is coloured on a terminal only, never with NO_COLOR', async () => {
  const named = sb.network('a-rather-long-network-name-x');
  const long: TestNet = { ...named, bridge: sb.name('bl'), xml: hookData(networkXml({ ...named, bridge: sb.name('bl') })) };
  await expectStarted(sb, long);
  const text = await sb.cli(['list']);
  expect(text.exitCode).toBe(0);
  const lines = text.stdout.split('\n');
  expect(lines[0]).toMatch(/^NETWORK\s+BRIDGE\s+PRIVATE\s+UPSTREAM\s+STATE$/);
  expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
  expect(text.stdout).toContain('…');
  expect(text.stdout).not.toContain('\x1b[');
  const wide = await sb.cli(['list', '--wide']);
  expect(wide.stdout).toContain(long.name);
  expect(wide.stdout).toContain(namespaceName(long.name));
  expect(wide.stdout.split('\n')[0]).toMatch(/^NETWORK\s+BRIDGE\s+NAMESPACE\s+PRIVATE\s+UPSTREAM\s+UPSTREAM-BRIDGE\s+STATE$/);
  // On a terminal (script(1) gives the command a pseudo-terminal): coloured, unless NO_COLOR.
  const tty = async (env: Record<string, string>) => (await execa('script', ['-qec', `${process.execPath} ${CLI} list`, '/dev/null'], {
    reject: false, env: { ...sb.env, TERM: 'xterm', ...env }, extendEnv: false,
  })).stdout;
  expect(await tty({ PATH: process.env.PATH! })).toContain('\x1b[32mup\x1b[0m');
  expect(await tty({ PATH: process.env.PATH!, NO_COLOR: '1' })).not.toContain('\x1b[');
});
