import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeContext } from '../../src/core/context.js';
import { hostDeviceNames } from '../../src/domain/names.js';
import { readNetworkHookCall } from '../../src/libvirt/hook-input.js';
import { defineNet, domainXml, expectStarted, netDestroy, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import type { Sandbox } from '../helpers/sandbox.js';

/**
 * A truncated or empty network record or lease, as a full disk or a crash of an older natns left
 * them: every command reports the file by path and carries on with the rest, hooks of other
 * networks and guests do not notice, the address of a bad lease is never handed out, and repair
 * moves the files aside and rebuilds them.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const state = () => sb.env.NATNS_STATE_DIR!;
const recordPath = (net: TestNet) => join(state(), 'networks', `${net.uuid}.json`);
const leasePath = (address: string) => join(state(), 'leases', provider, address);
const hint = "; 'natns check --repair' moves it aside";
const lines = (text: string) => text.split('\n').filter(Boolean).sort();

/** Four running-or-stopped networks and a guest with a public address, then four files damaged. */
async function damagedState() {
  const [a, b, c, s] = ['a', 'b', 'c', 's'].map((n) => defineNet(sb, n)) as [TestNet, TestNet, TestNet, TestNet];
  for (const n of [a, b, c, s]) await expectStarted(sb, n);
  expect((await netDestroy(sb, s)).exitCode).toBe(0);
  expect((await sb.cli(['forward', 'add', a.name, '--proto', 'tcp', '--port', '2222', '--to', '10.0.0.50:22'])).exitCode).toBe(0);
  const g1 = { name: sb.name('vm1'), uuid: randomUUID() };
  const g1xml = domainXml({ ...g1, network: a.name, mac: '52:54:00:cc:00:01', metadata: `<natns:address network="${a.name}" ip="10.0.0.100"/><natns:forward network="${a.name}" proto="tcp" port="8080" to-port="80"/><natns:public network="${a.name}" pool="default"/>` });
  expect((await sb.qemuHook([g1.name, 'start', 'begin', '-'], g1xml)).stderr).toBe('');
  const before = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string; upstream: { address: string } }[];
  expect(before.map((m) => m.upstream.address)).toEqual(['198.51.100.100', '198.51.100.101', '198.51.100.102', '198.51.100.103']);

  // B's record cut short, S's empty; C's lease empty, the guest's public lease cut short.
  writeFileSync(recordPath(b), readFileSync(recordPath(b), 'utf8').slice(0, 40));
  writeFileSync(recordPath(s), '');
  writeFileSync(leasePath('198.51.100.102'), '');
  writeFileSync(leasePath('198.51.100.104'), readFileSync(leasePath('198.51.100.104'), 'utf8').slice(0, 10));
  const bad = {
    b: `${recordPath(b)}: not valid JSON (truncated?)${hint}`,
    s: `${recordPath(s)}: empty, not valid JSON${hint}`,
    c: `${leasePath('198.51.100.102')}: empty, not valid JSON${hint}`,
    g: `${leasePath('198.51.100.104')}: not valid JSON (truncated?)${hint}`,
  };
  return { a, b, c, s, g1, bad };
}

test('every command reports a bad record or lease by path and carries on; other hooks do not notice; its address stays taken', async () => {
  const { a, b, c, s, bad } = await damagedState();
  const skipped = (...which: (keyof typeof bad)[]) => which.map((w) => `natns: skipped ${bad[w]}`).sort();

  // list: the rows it can, the bad files on stderr, exit 1.
  const list = await sb.cli(['list', '--json']);
  expect((JSON.parse(list.stdout) as { network: string }[]).map((m) => m.network)).toEqual([a.name, c.name]);
  expect({ code: list.exitCode, stderr: lines(list.stderr) }).toEqual({ code: 1, stderr: skipped('b', 's') });

  const show = await sb.cli(['show', a.name]);
  expect(show.stdout).toContain(`Network:         ${a.name}`);
  expect(show.stdout).toContain('tcp 198.51.100.100:2222 -> 10.0.0.50:22');
  expect({ code: show.exitCode, stderr: lines(show.stderr) }).toEqual({ code: 1, stderr: skipped('b', 's') });

  const forwards = await sb.cli(['forward', 'list']);
  expect(forwards.stdout).toContain('198.51.100.100:8080');
  expect(forwards.stdout).toContain('198.51.100.100:2222');
  expect({ code: forwards.exitCode, stderr: lines(forwards.stderr) }).toEqual({ code: 1, stderr: skipped('b', 's') });

  // check: each bad file is a finding; B's router and S's lease are not mistaken for orphans.
  const check = await sb.cli(['check']);
  expect(check.exitCode).toBe(1);
  const devices = Object.values(hostDeviceNames(b.uuid));
  const mine = lines(check.stdout).filter((l) => l.includes(sb.id) || l.includes(sb.dir) || devices.some((d) => l.includes(d)));
  expect(mine).toEqual(Object.values(bad).sort());
  expect(check.stderr).toBe('');

  // gc asks libvirt (read-only) what it defines; it carries on and names the files.
  const gc = await sb.cli(['gc']);
  expect({ code: gc.exitCode, stdout: gc.stdout, stderr: lines(gc.stderr) }).toEqual({ code: 1, stdout: '', stderr: skipped('b', 's', 'c', 'g') });

  // Hooks of other guests and networks do not notice; the bad leases' addresses stay taken.
  const g2 = { name: sb.name('vm2'), uuid: randomUUID() };
  const g2xml = domainXml({ ...g2, network: a.name, mac: '52:54:00:cc:00:02', metadata: `<natns:address network="${a.name}" ip="10.0.0.101"/>` });
  const g2start = await sb.qemuHook([g2.name, 'start', 'begin', '-'], g2xml);
  expect({ code: g2start.exitCode, stderr: g2start.stderr }).toEqual({ code: 0, stderr: '' });
  const d = defineNet(sb, 'd');
  await expectStarted(sb, d);
  const dList = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string; upstream: { address: string } }[];
  expect(dList.find((m) => m.network === d.name)!.upstream.address).toBe('198.51.100.105');
  // The network with the bad file itself is refused, in one line naming it.
  const sStart = await sb.hook([s.name, 'start', 'begin', '-'], s.xml);
  expect({ code: sStart.exitCode, stderr: sStart.stderr }).toEqual({ code: 1, stderr: `natns: cannot use ${bad.s}` });
  const cStart = await sb.hook([c.name, 'start', 'begin', '-'], c.xml);
  expect({ code: cStart.exitCode, stderr: cStart.stderr }).toEqual({ code: 1, stderr: `natns: cannot use ${bad.c}; until then 198.51.100.102 stays taken` });
});

test('repair moves bad files aside, kept, and rebuilds the records and leases from libvirt and the rest of the state', async () => {
  const { a, b, c, s, g1 } = await damagedState();
  const devices = Object.values(hostDeviceNames(b.uuid));
  // Started with the two bad leases in place: it gets the next free address, not theirs.
  const d = defineNet(sb, 'd');
  await expectStarted(sb, d);
  // Imported here: the module is new with this test.
  const { salvage } = await import('../../src/core/salvage.js');
  // Repair's first step, with libvirt's answer given (A to D run, S is defined and stopped).
  const specs = new Map([a, b, c, s, d].map((n) => [n.uuid, readNetworkHookCall([n.name, 'started', 'begin', '-'], n.xml).network.spec!]));
  const ctx = makeContext(state(), sb.env.NATNS_CONFIG!, new (await import('../../src/sys/bad-files.js')).BadFiles());
  const result = await salvage(ctx, { active: new Set([a, b, c, d].map((n) => n.uuid)), spec: async (uuid) => specs.get(uuid) });
  expect(result.errors).toEqual([]);
  const kept = (p: string) => readdirSync(join(p, '..')).filter((n) => n.startsWith(`${p.split('/').pop()}.corrupt-`)).map((n) => join(p, '..', n));
  for (const [path, reason] of [[recordPath(b), 'not valid JSON (truncated?)'], [recordPath(s), 'empty, not valid JSON'], [leasePath('198.51.100.102'), 'empty, not valid JSON'], [leasePath('198.51.100.104'), 'not valid JSON (truncated?)']] as const) {
    expect(kept(path)).toHaveLength(1);
    expect(result.actions).toContain(`moved ${path} aside (${reason}); kept as ${kept(path)[0]}`);
  }
  expect(result.actions).toContain(`rebuilt the record of network ${s.name} from libvirt (upstream 198.51.100.103 on ${provider})`);
  expect(result.actions).toContain(`rewrote the lease of 198.51.100.102 on ${provider} for network ${c.name}`);
  expect(result.actions).toContain(`rewrote the lease of 198.51.100.104 on ${provider} for guest ${g1.name}`);
  expect(readFileSync(kept(recordPath(s))[0]!, 'utf8')).toBe('');
  // Then repair converges the running networks from libvirt's XML, which writes B's record again.
  expect((await sb.hook([b.name, 'started', 'begin', '-'], b.xml)).stderr).toBe('');

  const after = await sb.cli(['list', '--json']);
  expect(after.exitCode).toBe(0);
  expect((JSON.parse(after.stdout) as { network: string; upstream: { address: string }; state: string }[]).map((m) => [m.network, m.upstream.address, m.state])).toEqual([
    [a.name, '198.51.100.100', 'up'], [b.name, '198.51.100.101', 'up'], [c.name, '198.51.100.102', 'up'], [d.name, '198.51.100.105', 'up'], [s.name, '198.51.100.103', 'stopped'],
  ]);
  const clean = await sb.cli(['check']);
  expect(lines(clean.stdout).filter((l) => l.includes(sb.id) || l.includes(sb.dir) || devices.some((x) => l.includes(x)))).toEqual([]);
  expect(existsSync(recordPath(s))).toBe(true);
  await expectStarted(sb, s);
});
