import { execa } from 'execa';
import { mkdirSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { defineNet, expectStarted, netDestroy, poolConfig, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { HOOK, type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * The properties natns must keep in libvirt's start path: convergent, crash-safe, concurrent,
 * reboot-proof, closed to traffic it should not pass, and suspicious of its own files.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const started = (net: TestNet) => expectStarted(sb, net);

async function mappings(): Promise<{ network: string; state: string; upstream: { address: string } }[]> {
  return JSON.parse((await sb.cli(['list', '--json'])).stdout);
}

/** Running dnsmasq processes started for this sandbox. */
async function dnsmasqs(): Promise<string[]> {
  const r = await sh('pgrep', ['-f', '--', `--conf-file=${sb.env.NATNS_STATE_DIR}/`]);
  return r.stdout.split('\n').filter(Boolean);
}

function leaseFiles(): string[] {
  try {
    return readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases', provider)).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

test('natns check finds every kind of drift, read-only, and the next start repairs it', async () => {
  const net = defineNet(sb, '1');
  await started(net);
  expect((await sb.cli(['check', net.name])).exitCode).toBe(0);
  const ns = namespaceName(net.name);
  await sh('ip', ['-n', ns, 'addr', 'flush', 'dev', 'lan']);
  await sh('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'natns']);
  await sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  await sh('ip', ['link', 'set', hostDeviceNames(net.uuid).wan, 'nomaster']);
  const check = await sb.cli(['check', net.name]);
  expect(check.exitCode).toBe(1);
  expect(check.stdout.trim().split('\n').sort()).toEqual([
    `${net.name}: ${hostDeviceNames(net.uuid).wan} is attached to no bridge, want ${provider}`,
    `${net.name}: lan lacks 10.0.0.1/24`,
    `${net.name}: nft table ip natns is missing`,
    `${net.name}: sysctl net.ipv4.ip_forward is 0, want 1`,
  ].sort());
  // Read-only: checking again finds the same.
  expect((await sb.cli(['check', net.name])).stdout).toBe(check.stdout);
  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  expect((await sb.cli(['check', net.name])).exitCode).toBe(0);
});

test('natns check names objects and leases that no network claims', async () => {
  const stray = `natns-${sb.id}-stray`;
  await sh('ip', ['netns', 'add', stray]);
  try {
    const r = await sb.cli(['check']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`namespace ${stray} belongs to no network`);
  } finally {
    await sh('ip', ['netns', 'del', stray]);
  }
});

test('killed at every step of a start or a stop, the next start or stop converges with nothing leaked', async () => {
  const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:dhcp start="10.0.0.100" end="10.0.0.199"/>' });
  const crash = (args: string[], at: number) =>
    execa(HOOK, args, { input: net.xml, reject: false, env: { ...sb.env, NATNS_TEST_ABORT_AT: String(at) } });
  let beginSteps = 0;
  for (let at = 1; ; at++) {
    const killed = await crash([net.name, 'start', 'begin', '-'], at);
    if (killed.signal !== 'SIGKILL') {
      expect(killed.exitCode).toBe(0);
      beginSteps = at - 1;
      break;
    }
    expect(leaseFiles().length).toBeLessThanOrEqual(1);
  }
  let steps = 0;
  for (let at = 1; ; at++) {
    // A start whose `started` hook dies at step `at`...
    expect((await sb.hook([net.name, 'start', 'begin', '-'], net.xml)).exitCode).toBe(0);
    await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
    await sh('ip', ['link', 'set', net.bridge, 'up']);
    const killed = await crash([net.name, 'started', 'begin', '-'], at);
    if (killed.signal !== 'SIGKILL') {
      expect(killed.exitCode).toBe(0);
      steps = at - 1;
      break;
    }
    // ...is followed by libvirt's next net-start: `start begin` clears what is left, including the bridge.
    await started(net);
    expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
    expect(leaseFiles()).toEqual(['198.51.100.100']);
    expect(await dnsmasqs()).toHaveLength(1);
    expect((await netDestroy(sb, net)).exitCode).toBe(0);
    expect(await sb.leftovers()).toEqual([]);
    expect(await dnsmasqs()).toEqual([]);
  }
  expect(steps).toBeGreaterThanOrEqual(5);
  expect((await netDestroy(sb, net)).exitCode).toBe(0);

  let stopSteps = 0;
  for (let at = 1; ; at++) {
    await started(net);
    await sh('ip', ['link', 'del', net.bridge]);
    const killed = await crash([net.name, 'stopped', 'end', '-'], at);
    if (killed.signal !== 'SIGKILL') {
      stopSteps = at - 1;
      break;
    }
    expect((await sb.hook([net.name, 'stopped', 'end', '-'], net.xml)).exitCode).toBe(0);
    expect(await sb.leftovers()).toEqual([]);
    expect(await dnsmasqs()).toEqual([]);
    expect(leaseFiles()).toEqual(['198.51.100.100']);
  }
  expect(stopSteps).toBeGreaterThanOrEqual(2);
  console.log(`crash test: killed at each of ${beginSteps} 'start begin', ${steps} 'started' and ${stopSteps} 'stopped' steps; 0 leaks, 1 lease`);
}, 300_000);

test('30 networks of one pool started at once get 30 different addresses, and a stale lock does not block', async () => {
  // A lock left by a killed process (a pid that is not running).
  mkdirSync(join(sb.env.NATNS_STATE_DIR!, 'locks'), { recursive: true });
  writeFileSync(join(sb.env.NATNS_STATE_DIR!, 'locks', `bridge-${provider}.lock`), '999999999');
  const nets = Array.from({ length: 30 }, (_, i) => defineNet(sb, `c${i}`));
  const begins = await Promise.all(nets.map((n) => sb.hook([n.name, 'start', 'begin', '-'], n.xml)));
  expect(begins.map((r) => r.exitCode)).toEqual(nets.map(() => 0));
  const m = await mappings();
  expect(m).toHaveLength(30);
  expect(new Set(m.map((x) => x.upstream.address)).size).toBe(30);
  expect(leaseFiles()).toHaveLength(30);
  // And the routers themselves, built concurrently.
  for (const n of nets.slice(0, 10)) {
    await sh('ip', ['link', 'add', n.bridge, 'type', 'bridge']);
    await sh('ip', ['link', 'set', n.bridge, 'up']);
  }
  const builds = await Promise.all(nets.slice(0, 10).map((n) => sb.hook([n.name, 'started', 'begin', '-'], n.xml)));
  expect(builds.map((r) => r.stderr)).toEqual(nets.slice(0, 10).map(() => ''));
  // The ten built ones match their plan; the twenty only reserved hold nothing yet.
  const check = await sb.cli(['check']);
  expect({ code: check.exitCode, out: check.stdout }).toEqual({ code: 0, out: 'ok: the kernel matches the plan' });
}, 180_000);

test('after a simulated reboot (kernel objects gone, state kept) every network gets its old address back', async () => {
  const nets = [defineNet(sb, '1'), defineNet(sb, '2')];
  for (const n of nets) await started(n);
  const before = await mappings();
  // Reboot: the kernel forgets namespaces, veths and bridges; /var/lib/natns survives.
  for (const n of nets) {
    const d = hostDeviceNames(n.uuid);
    await sh('ip', ['-force', '-batch', '-'], `link del ${d.lan}\nlink del ${d.wan}\nlink del ${n.bridge}\nnetns del ${namespaceName(n.name)}\n`);
  }
  // They should run (natns's records say so) and nothing of their routers is left: down.
  expect((await mappings()).map((m) => m.state)).toEqual(['down', 'down']);
  for (const n of [...nets].reverse()) await started(n);
  expect(await mappings()).toEqual(before);
});

describe('isolation', () => {
  let hostServer: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (hostServer ? hostServer.close(r) : r(undefined)));
    hostServer = undefined;
  });

  test('guests go out, and nothing else passes: no spoofed sources, no host addresses, no inbound without a forward', async () => {
    const upstream = await sb.host('up', provider, '198.51.100.1/24');
    await sb.recorder(upstream, 8080);
    // The host's own address on the upstream bridge, with a listener guests must not reach.
    await sh('ip', ['addr', 'add', '198.51.100.2/24', 'dev', provider]);
    hostServer = createServer((s) => s.end('host\n'));
    await new Promise<void>((r) => hostServer!.listen(8081, '198.51.100.2', () => r()));

    const [n1, n2] = [defineNet(sb, '1'), defineNet(sb, '2')];
    await started(n1);
    await started(n2);
    const g1 = await sb.host('g1', n1.bridge, '10.0.0.100/24', '10.0.0.1');
    const g2 = await sb.host('g2', n2.bridge, '10.0.0.100/24', '10.0.0.1');
    await sb.recorder(g1, 80, 'g1');
    await sb.recorder(g2, 80, 'g2');
    const [up1, up2] = (await mappings()).map((m) => m.upstream.address);

    // Must pass: out to the upstream host.
    expect(await sb.reaches(g1, '198.51.100.1', 8080)).toBe(true);
    // Must drop: the host's own address on the upstream bridge.
    expect(await sb.reaches(g1, '198.51.100.2', 8081)).toBe(false);
    // Must drop: a source address outside the private subnet.
    await sh('ip', ['-n', g1, 'addr', 'add', '10.9.9.9/32', 'dev', 'eth0']);
    expect(await sb.reaches(g1, '198.51.100.1', 8080, '10.9.9.9')).toBe(false);
    // Must drop: the upstream host routing straight at a guest, and at the router itself on a closed port.
    await sh('ip', ['-n', upstream, 'route', 'add', '10.0.0.0/24', 'via', up1!]);
    expect(await sb.reaches(upstream, '10.0.0.100', 80)).toBe(false);
    // Must drop: a guest of network 2 at network 1's upstream address on an unpublished port...
    expect(await sb.reaches(g2, up1!, 80)).toBe(false);
    // ...and pass once that port is published.
    expect((await sb.cli(['forward', 'add', n1.name, '--proto', 'tcp', '--port', '80', '--to', '10.0.0.100:80'])).exitCode).toBe(0);
    expect(await sb.connect(g2, up1!, 80)).toBe(`hello ${up2} from g1`);

    // An allow in the pool opens the host again, after the network restarts.
    sb.writeConfig(poolConfig(provider, { hostAccess: 'allow' }));
    expect((await netDestroy(sb, n1)).exitCode).toBe(0);
    await started(n1);
    await sh('ip', ['link', 'set', `${g1}h`, 'master', n1.bridge]);
    expect(await sb.reaches(g1, '198.51.100.2', 8081)).toBe(true);
  });
});

test('a config or state folder that others can write is refused, with the fix', async () => {
  const net = defineNet(sb, '1');
  chmodSync(sb.env.NATNS_CONFIG!, 0o666);
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(r.exitCode).toBe(1);
  expect(r.stderr.trim()).toBe(`natns: refusing to use config ${sb.env.NATNS_CONFIG}: it is writable by everyone (mode 0666); fix with: chmod go-w ${sb.env.NATNS_CONFIG}`);
  chmodSync(sb.env.NATNS_CONFIG!, 0o644);
  mkdirSync(sb.env.NATNS_STATE_DIR!, { recursive: true });
  chmodSync(sb.env.NATNS_STATE_DIR!, 0o777);
  const s = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect(s.stderr).toMatch(/refusing to use state folder .* writable by everyone/);
  chmodSync(sb.env.NATNS_STATE_DIR!, 0o755);
  expect((await sb.hook([net.name, 'start', 'begin', '-'], net.xml)).exitCode).toBe(0);
});

