import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespaceName } from '../../src/domain/names.js';
import { defineNet, dualStackSandbox, expectStarted } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';
import { guestStart, udpEcho, udpEchoServer6, upstreamsOf } from '../helpers/traffic6.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * What a guest publishes over IPv6: forwards on the network's upstream IPv6 address (hairpin
 * included) and a public IPv6 address of its own (1:1, fixed or from an IPv6 pool), against
 * real namespaces.
 */
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await dualStackSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

test('a forward publishes the guest port on both upstream addresses; hairpin over IPv6 is SNATed to the IPv6 gateway; the guest stop withdraws both', async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  const mac = '52:54:00:ee:00:01';
  const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1', mac);
  await sb.ipv6(g, 'fd00::100/64', 'fd00::1');
  await sb.recorder(g, 80, 'guest');
  await sb.recorder(g, 80, 'guest6', '::');
  const vm = await guestStart(sb, net, mac, `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:address network="${net.name}" ip="fd00::100"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>`);
  const { up, up6 } = await upstreamsOf(sb, net);
  expect(await sb.connect(upstream, up6, 8080)).toBe('hello 2001:db8:100::1 from guest6');
  expect(await sb.connect(upstream, up, 8080)).toBe('hello 198.51.100.1 from guest');
  // Hairpin: a neighbour on the same network through the published IPv6 address.
  const n = await sb.host('n1', net.bridge, '10.0.0.101/24', '10.0.0.1');
  await sb.ipv6(n, 'fd00::101/64', 'fd00::1');
  expect(await sb.connect(n, up6, 8080)).toBe('hello fd00::1 from guest6');
  // The published port is listed with its IPv6 address.
  const forwards = (await sb.cli(['forward', 'list', net.name])).stdout;
  expect(forwards).toContain(`[${up6}]:8080`);
  expect(forwards).toContain('[fd00::100]:80');
  expect((await sb.qemuHook([vm.name, 'stopped', 'end', '-'], vm.xml)).exitCode).toBe(0);
  expect(await sb.reaches(upstream, up6, 8080)).toBe(false);
});

test('1:1 over IPv6: a fixed public IPv6 address and one from an IPv6 pool, each reached on TCP, UDP and ICMPv6 from upstream, and each guest seen as its own outbound', async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  const publics = ['2001:db8:100::150', '2001:db8:100::101'];
  const guests: string[] = [];
  for (const [i, pub] of [`address="${publics[0]}"`, 'pool="default6"'].entries()) {
    const mac = `52:54:00:ee:01:0${i + 1}`;
    const g = await sb.host(`g${i + 1}`, net.bridge, `10.0.0.10${i}/24`, '10.0.0.1', mac);
    await sb.ipv6(g, `fd00::10${i}/64`, 'fd00::1');
    await sb.recorder(g, 80, `g${i + 1}`, '::');
    await udpEchoServer6(sb, g, 53);
    await guestStart(sb, net, mac, `<natns:address network="${net.name}" ip="10.0.0.10${i}"/><natns:address network="${net.name}" ip="fd00::10${i}"/><natns:public network="${net.name}" ${pub}/>`);
    guests.push(g);
  }
  // The pool's lowest free address after the network's own (::100).
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.differences).toEqual([]);
  const recorder = await sb.recorder(upstream, 8080, '', '::');
  for (const [i, g] of guests.entries()) {
    expect(await sb.connect(upstream, publics[i]!, 80)).toBe(`hello 2001:db8:100::1 from g${i + 1}`);
    expect(await udpEcho(upstream, publics[i]!, 53)).toBe('echo 2001:db8:100::1');
    expect(await sb.ping(upstream, publics[i]!)).toBe(true);
    expect(await sb.ping(g, '2001:db8:100::1')).toBe(true);
    await sb.connect(g, '2001:db8:100::1', 8080);
  }
  expect(recorder.sources()).toEqual(publics);
  // The namespace answers neighbour solicitations for both public addresses, from its wan.
  const neigh = (await sh('ip', ['-n', upstream, '-6', 'neigh', 'show', publics[0]!])).stdout;
  expect(neigh).toMatch(/lladdr [0-9a-f:]+ (REACHABLE|STALE|DELAY)/);
});

test('transparent proxy over IPv6: guest traffic to a diverted port reaches an IPv6 listener in the namespace with its original destination; the policy routing lives in the namespace and converges', async () => {
  const net = defineNet(sb, '1', { ipv6: {}, upstream: '<natns:upstream pool="default"/><natns:tproxy proto="tcp" ports="80" to-port="3128" mark="1" table="100"/>' });
  await expectStarted(sb, net);
  const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
  await sb.ipv6(g, 'fd00::100/64', 'fd00::1');
  const ns = namespaceName(net.name);
  await sb.spawnReady(ns, 'python3', [join(here, '..', 'helpers', 'tproxy-listener.py'), '3128', '6']);
  await sb.spawnReady(ns, 'python3', [join(here, '..', 'helpers', 'tproxy-listener.py'), '3128']);
  expect(await sb.connect(g, '2001:db8:100::77', 80)).toBe('proxied [2001:db8:100::77]:80 for fd00::100');
  expect(await sb.connect(g, '198.51.100.77', 80)).toBe('proxied 198.51.100.77:80 for 10.0.0.100');
  // Other ports go out as usual.
  await sb.recorder(upstream, 8080, '', '::');
  expect(await sb.connect(g, '2001:db8:100::1', 8080)).toMatch(/^hello 2001:db8:100::1\d\d$/);
  expect((await sh('ip', ['-n', ns, '-6', 'rule', 'show'])).stdout).toMatch(/fwmark 0x1 lookup 100/);
  expect((await sh('ip', ['-n', ns, '-6', 'route', 'show', 'table', '100'])).stdout).toMatch(/local default dev lo/);
  // Drift in the IPv6 policy routing is seen and repaired.
  await sh('ip', ['-n', ns, '-6', 'rule', 'del', 'fwmark', '1', 'lookup', '100']);
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual(['IPv6 rule fwmark 0x1 lookup 100 is missing']);
  expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
  expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
});
