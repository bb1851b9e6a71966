import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineNet, domainXml, expectStarted, netDestroy, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * 1:1 stateless NAT (a guest's own public address, both directions, every protocol) and
 * transparent-proxy diversion with policy routing, against real namespaces.
 */
const here = dirname(fileURLToPath(import.meta.url));
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

const started = (net: TestNet) => expectStarted(sb, net);

async function udp(ns: string, address: string, port: number): Promise<string | undefined> {
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, join(here, '..', 'helpers', 'udp-echo.mjs'), address, String(port)]);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

test('1:1: two guests 10.0.0.100 on same-subnet networks (veth and macvlan patches), each with its own public address, reachable on TCP, UDP and ICMP both ways', async () => {
  const nets = [defineNet(sb, '1'), defineNet(sb, '2', { upstream: '<natns:upstream pool="default"/><natns:patch type="macvlan"/>' })];
  const publics = ['198.51.100.150', undefined];
  const guests: { name: string; xml: string; ns: string }[] = [];
  for (const [i, net] of nets.entries()) {
    await started(net);
    const mac = `52:54:00:bb:0${i}:01`;
    const ns = await sb.host(`g${i + 1}`, net.bridge, '10.0.0.100/24', '10.0.0.1', mac);
    await sb.recorder(ns, 80, `g${i + 1}`);
    await sb.spawnReady(ns, process.execPath, [join(here, '..', 'helpers', 'udp-echo.mjs'), '53']);
    const pub = publics[i] ? `address="${publics[i]}"` : 'pool="default"';
    const name = sb.name(`vm${i + 1}`);
    const xml = domainXml({ name, uuid: randomUUID(), network: net.name, mac, metadata: `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:public network="${net.name}" ${pub}/>` });
    const r = await sb.qemuHook([name, 'start', 'begin', '-'], xml);
    expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: '', err: '' });
    guests.push({ name, xml, ns });
  }
  // The pool hands the second guest the lowest free address after the two networks' own.
  const addresses = ['198.51.100.150', '198.51.100.102'];
  await sb.recorder(upstream, 8080);
  await sb.spawnReady(upstream, process.execPath, [join(here, '..', 'helpers', 'udp-echo.mjs'), '5353']);
  for (const [i, g] of guests.entries()) {
    const pub = addresses[i]!;
    // Inbound, opened from upstream: TCP, UDP, ICMP all reach the guest.
    expect(await sb.connect(upstream, pub, 80)).toBe(`hello 198.51.100.1 from g${i + 1}`);
    expect(await udp(upstream, pub, 53)).toBe('echo 198.51.100.1');
    expect(await sb.ping(upstream, pub)).toBe(true);
    // Outbound, opened by the guest: upstream sees the guest's public address.
    expect(await sb.connect(g.ns, '198.51.100.1', 8080)).toBe(`hello ${pub}`);
    expect(await udp(g.ns, '198.51.100.1', 5353)).toBe(`echo ${pub}`);
    expect(await sb.ping(g.ns, '198.51.100.1')).toBe(true);
  }
  // Without conntrack: the namespace keeps no state for these flows.
  const ct = await sh('ip', ['netns', 'exec', `natns-${nets[0]!.name}`, 'nft', 'list', 'table', 'ip', 'natns']);
  expect(ct.stdout).toContain('elements = { 198.51.100.150 : 10.0.0.100 }');
  expect(ct.stdout).toContain('ip daddr set ip daddr map @one_to_one_in notrack');

  // An address already held is refused in an admin's words.
  const taken = domainXml({ name: sb.name('vm3'), uuid: randomUUID(), network: nets[1]!.name, mac: '52:54:00:bb:09:01', metadata: `<natns:address network="${nets[1]!.name}" ip="10.0.0.101"/><natns:public network="${nets[1]!.name}" address="198.51.100.150"/>` });
  const refused = await sb.qemuHook([sb.name('vm3'), 'start', 'begin', '-'], taken);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toMatch(/198\.51\.100\.150 on .* is already used by '.*vm1'/);
  const outside = taken.replace('198.51.100.150', '203.0.113.5');
  expect((await sb.qemuHook([sb.name('vm3'), 'start', 'begin', '-'], outside)).stderr).toMatch(/public address 203\.0\.113\.5 is outside the upstream subnet 198\.51\.100\.0\/24/);

  // Stop: the rules go, the address stays the guest's; start again: same address.
  expect((await sb.qemuHook([guests[1]!.name, 'stopped', 'end', '-'], guests[1]!.xml)).exitCode).toBe(0);
  expect(await udp(upstream, addresses[1]!, 53)).toBeUndefined();
  expect(await sb.connect(upstream, addresses[0]!, 80)).toBe('hello 198.51.100.1 from g1');
  expect((await sb.qemuHook([guests[1]!.name, 'start', 'begin', '-'], guests[1]!.xml)).exitCode).toBe(0);
  expect(await udp(upstream, addresses[1]!, 53)).toBe('echo 198.51.100.1');
  for (const net of nets) expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
  for (const net of nets) expect((await netDestroy(sb, net)).exitCode).toBe(0);
  expect(await sb.leftovers()).toEqual([]);
});

test('transparent proxy: guest traffic to port 80 is diverted to a listener in the namespace, which sees the original destination', async () => {
  const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:tproxy proto="tcp" ports="80,443" to-port="3128" mark="1" table="100"/>' });
  await started(net);
  const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
  await sb.recorder(upstream, 80);
  const ns = `natns-${net.name}`;
  expect((await sb.cli(['show', net.name])).stdout).toContain('NOTHING listens on 3128');
  await sb.spawnReady(ns, 'python3', [join(here, '..', 'helpers', 'tproxy-listener.py'), '3128']);
  expect((await sb.cli(['show', net.name])).stdout).toContain('a proxy is listening');
  expect(await sb.connect(g, '198.51.100.1', 80)).toBe('proxied 198.51.100.1:80 for 10.0.0.100');
  expect(await sb.connect(g, '198.51.100.77', 443)).toBe('proxied 198.51.100.77:443 for 10.0.0.100');
  // Other ports are not diverted.
  await sb.recorder(upstream, 8080);
  expect(await sb.connect(g, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d$/);
  // The namespace's own policy routing, and nothing of it in the host.
  expect((await sh('ip', ['-n', ns, 'rule', 'show'])).stdout).toMatch(/fwmark 0x1 lookup 100/);
  expect((await sh('ip', ['-n', ns, 'route', 'show', 'table', '100'])).stdout).toMatch(/local default dev lo/);
  expect((await sh('ip', ['rule', 'show'])).stdout).not.toMatch(/lookup 100/);
  expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
  // natns exec runs commands in the namespace.
  const inside = await sb.cli(['exec', net.name, '--', 'ip', '-br', 'link', 'show', 'lan']);
  expect(inside.exitCode).toBe(0);
});
