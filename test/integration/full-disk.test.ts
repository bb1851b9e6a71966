import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { sh, type Sandbox } from '../helpers/sandbox.js';
import { defineNet, expectStarted, netDestroy, netStart, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { walk } from '../helpers/state-tree.js';
import { SmallTmpfs } from '../helpers/tmpfs.js';

/**
 * A full state filesystem (a real, small tmpfs as NATNS_STATE_DIR, filled up by a filler file),
 * driven through the built hooks as libvirt would: each start fails fast with one line naming
 * the file it could not write, leaves nothing that blocks or breaks the next one, and once there
 * is room again the next start works at once.
 */
let sb: Sandbox;
let fs: SmallTmpfs;

beforeEach(async () => {
  ({ sb } = await poolSandbox(false));
  fs = await SmallTmpfs.mount(sb.env.NATNS_STATE_DIR!, '1m');
});

afterEach(async () => {
  await fs.unmount();
  await sb.cleanup();
});

/** One start as libvirt does it, timed; the bridge goes again when the start failed. */
async function timedStart(net: TestNet) {
  const started = Date.now();
  const r = await netStart(sb, net);
  const ms = Date.now() - started;
  await sh('ip', ['link', 'del', net.bridge]).then(() => undefined);
  return { code: r.exitCode, stderr: r.stderr, ms };
}

/** Files in the state that hold nothing, or temp files left by a write: what broke later starts. */
function brokenFiles(): string[] {
  return walk(fs.dir).filter((e) => e.type === 'file' && e.path !== 'filler' && (e.size === 0 || /\.tmp$/.test(e.path))).map((e) => e.path);
}

test('with N pages free, for every N, a start fails fast in one line naming the file; with room again it starts at once and check is clean', async () => {
  const a = defineNet(sb, 'a');
  await expectStarted(sb, a);
  const b = defineNet(sb, 'b');
  const failures: string[] = [];
  let pages = 0;
  for (; pages < 64; pages++) {
    fs.fill(pages);
    const r = await timedStart(b);
    if (r.code === 0) break;
    // One line, naming a file in the state folder, and no waiting on a lock.
    expect(r.stderr).toMatch(new RegExp(`^natns: [^\\n]*cannot write ${fs.dir}/\\S+: no space left on the state filesystem$`));
    expect(r.ms).toBeLessThan(5000);
    failures.push(r.stderr.replace(/.*cannot write (\S+):.*/, '$1'));
    expect(brokenFiles()).toEqual([]);
    // Reading needs no room.
    expect((await sb.cli(['list'])).exitCode).toBe(0);
  }
  expect(pages).toBeLessThan(64);
  // The failures met the locks and the lease (which file comes first depends on the order of the writes).
  expect(failures.some((f) => f.includes('/locks/'))).toBe(true);
  expect(failures.some((f) => f.includes('/leases/'))).toBe(true);
  expect((await netDestroy(sb, b)).exitCode).toBe(0);

  // The same for the router build (`started`), after a `start begin` that had room.
  const buildFailures: string[] = [];
  for (pages = 0; pages < 64; pages++) {
    fs.free();
    expect((await sb.hook([b.name, 'start', 'begin', '-'], b.xml)).exitCode).toBe(0);
    await sh('ip', ['link', 'add', b.bridge, 'type', 'bridge']);
    fs.fill(pages);
    const started = Date.now();
    const r = await sb.hook([b.name, 'started', 'begin', '-'], b.xml);
    if (r.exitCode === 0) break;
    expect(r.stderr).toMatch(new RegExp(`^natns: [^\\n]*cannot write ${fs.dir}/\\S+: no space left on the state filesystem$`));
    if (r.stderr.includes('/networks/')) expect(r.stderr).toMatch(`natns: network '${b.name}': building its router failed: cannot write`);
    expect(Date.now() - started).toBeLessThan(5000);
    buildFailures.push(r.stderr.replace(/.*cannot write (\S+):.*/, '$1'));
    // The failed build removed what it made, the bridge included (as after libvirt's failed start).
    const ofB = [...Object.values(hostDeviceNames(b.uuid)).map((d) => `link ${d}`), `netns ${namespaceName(b.name)}`];
    expect((await sb.leftovers()).filter((l) => ofB.includes(l))).toEqual([]);
    expect((await sh('ip', ['link', 'show', b.bridge])).exitCode).not.toBe(0);
    expect(brokenFiles()).toEqual([]);
  }
  expect(pages).toBeLessThan(64);
  // The record of the built router is the last write, and its error keeps the build's context.
  expect(buildFailures.some((f) => f.includes('/networks/'))).toBe(true);
  expect((await netDestroy(sb, b)).exitCode).toBe(0);

  // Completely full: fails; the filler goes; the very next start works, without a lock wait.
  fs.fill(0);
  expect((await timedStart(b)).code).not.toBe(0);
  fs.free();
  const r = await netStart(sb, b);
  expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const again = Date.now();
  expect((await sb.hook([a.name, 'started', 'begin', '-'], a.xml)).exitCode).toBe(0);
  expect(Date.now() - again).toBeLessThan(5000);
  expect(brokenFiles()).toEqual([]);
  const check = await sb.cli(['check', a.name]);
  expect({ code: check.exitCode, out: check.stdout }).toEqual({ code: 0, out: 'ok: the kernel matches the plan' });
  expect((await sb.cli(['check', b.name])).exitCode).toBe(0);
  const leases = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { upstream: { address: string } }[];
  expect(leases.map((m) => m.upstream.address).sort()).toEqual(['198.51.100.100', '198.51.100.101']);
  const at = (f: string[]) => f.map((x) => x.slice(fs.dir.length + 1).replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/, 'UUID')).join(', ');
  console.log(`full disk: 'start begin' failed cleanly at ${at(failures)}; 'started' at ${at(buildFailures)}`);
}, 240_000);
