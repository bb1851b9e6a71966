import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunning } from '../../src/kernel/dnsmasq.js';
import { namespaceName } from '../../src/domain/names.js';
import { defineNet, domainXml, expectStarted, netDestroy, poolSandbox, portHookData, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * DHCP, reservations and port forwards served from inside each network's namespace, driven by
 * the built network and qemu hooks, with namespaces playing the guests and the upstream host.
 */
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

const DHCP = '<natns:dhcp start="10.0.0.150" end="10.0.0.159"/>';

const started = (net: TestNet) => expectStarted(sb, net);

async function upstreamOf(net: TestNet): Promise<string> {
  const list = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string; upstream: { address: string } }[];
  return list.find((m) => m.network === net.name)!.upstream.address;
}

function guest(net: TestNet, name: string, mac: string, metadata: string) {
  const uuid = randomUUID();
  return { uuid, name, xml: domainXml({ name, uuid, network: net.name, mac, metadata }) };
}

async function connectFails(ns: string, address: string, port: number): Promise<boolean> {
  try {
    await sb.connect(ns, address, port);
    return false;
  } catch {
    return true;
  }
}

test('DHCP from the namespace: a guest gets an address from the range, a reserved guest its own, and dnsmasq serves only the private side', async () => {
  const net = defineNet(sb, '1', { extra: '' });
  net.xml = net.xml.replace('</natns:nat>', `${DHCP}</natns:nat>`);
  await started(net);
  const ns = namespaceName(net.name);

  const g1 = await sb.host('g1', net.bridge, '');
  expect(await sb.dhcp(g1)).toMatch(/^10\.0\.0\.15\d$/);

  const reserved = guest(net, sb.name('vm2'), '52:54:00:aa:bb:02', `<natns:address network="${net.name}" ip="10.0.0.123"/>`);
  const hook = await sb.qemuHook([reserved.name, 'start', 'begin', '-'], reserved.xml);
  expect({ code: hook.exitCode, out: hook.stdout, err: hook.stderr }).toEqual({ code: 0, out: '', err: '' });
  const g2 = await sb.host('g2', net.bridge, '', undefined, '52:54:00:aa:bb:02');
  expect(await sb.dhcp(g2)).toBe('10.0.0.123');

  // dnsmasq lives in the router namespace and listens on the private gateway only.
  const pid = Number(readFileSync(join(sb.env.NATNS_STATE_DIR!, 'dhcp', net.uuid, 'dnsmasq.pid'), 'utf8'));
  expect((await sh('ip', ['netns', 'identify', String(pid)])).stdout.trim()).toBe(ns);
  const sockets = (await sh('ip', ['netns', 'exec', ns, 'ss', '-H', '-lnup'])).stdout + (await sh('ip', ['netns', 'exec', ns, 'ss', '-H', '-lntp'])).stdout;
  expect(sockets).toContain('10.0.0.1:53');
  expect(sockets).not.toMatch(/198\.51\.100\.\d+:53/);
  expect((await sh('ss', ['-H', '-lnup'])).stdout).not.toContain(`pid=${pid},`);

  // Its stdio is /dev/null: it holds none of the hook's (libvirt's) pipes.
  for (const fd of ['0', '1', '2']) expect((await sh('readlink', [`/proc/${pid}/fd/${fd}`])).stdout.trim()).toBe('/dev/null');

  expect((await sb.qemuHook([reserved.name, 'stopped', 'end', '-'], reserved.xml)).exitCode).toBe(0);
  expect(readFileSync(join(sb.env.NATNS_STATE_DIR!, 'dhcp', net.uuid, 'hosts'), 'utf8')).toBe('');

  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  expect(isRunning(pid)).toBe(false);
  expect(await sb.leftovers()).toEqual([]);
});

test('forwards: the same guest address on two networks, each reached through its own upstream address, with hairpin and per-guest removal', async () => {
  const nets = [defineNet(sb, '1'), defineNet(sb, '2')];
  const guests = [];
  for (const [i, net] of nets.entries()) {
    await started(net);
    const mac = `52:54:00:aa:0${i}:01`;
    const ns = await sb.host(`g${i + 1}`, net.bridge, '10.0.0.100/24', '10.0.0.1', mac);
    await sb.recorder(ns, 80, `guest${i + 1}`);
    const g = guest(net, sb.name(`vm${i + 1}`), mac, `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>`);
    const r = await sb.qemuHook([g.name, 'start', 'begin', '-'], g.xml);
    expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: '', err: '' });
    guests.push(g);
  }
  const [up1, up2] = [await upstreamOf(nets[0]!), await upstreamOf(nets[1]!)];
  expect(await sb.connect(upstream, up1, 8080)).toBe('hello 198.51.100.1 from guest1');
  expect(await sb.connect(upstream, up2, 8080)).toBe('hello 198.51.100.1 from guest2');

  // Hairpin: a neighbour on network 1 reaches guest 1 through the published address.
  const neighbour = await sb.host('n1', nets[0]!.bridge, '10.0.0.101/24', '10.0.0.1');
  expect(await sb.connect(neighbour, up1, 8080)).toBe('hello 10.0.0.1 from guest1');

  // The same port again on network 1 is refused, naming who holds it.
  const dup = guest(nets[0]!, sb.name('vm3'), '52:54:00:aa:09:01', `<natns:address network="${nets[0]!.name}" ip="10.0.0.102"/><natns:forward network="${nets[0]!.name}" proto="tcp" port="8080" to-port="22"/>`);
  const refused = await sb.qemuHook([dup.name, 'start', 'begin', '-'], dup.xml);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr.trim()).toBe(`natns: tcp port 8080 on ${up1} (network ${nets[0]!.name}) is already forwarded to 10.0.0.100:80 by guest ${guests[0]!.name}`);

  // Stopping guest 1 withdraws its forward only.
  expect((await sb.qemuHook([guests[0]!.name, 'stopped', 'end', '-'], guests[0]!.xml)).exitCode).toBe(0);
  expect(await connectFails(upstream, up1, 8080)).toBe(true);
  expect(await sb.connect(upstream, up2, 8080)).toBe('hello 198.51.100.1 from guest2');
  // ...and frees the port for another guest.
  expect((await sb.qemuHook([dup.name, 'start', 'begin', '-'], dup.xml)).exitCode).toBe(0);
});

test('admin forwards: added by hand, listed, kept across a network restart, refused twice, removed', async () => {
  const net = defineNet(sb, '1');
  await started(net);
  const ns = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
  await sb.recorder(ns, 80, 'web');
  const add = await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '9090', '--to', '10.0.0.100:80']);
  expect({ code: add.exitCode, err: add.stderr }).toEqual({ code: 0, err: '' });
  const up = await upstreamOf(net);
  expect(await sb.connect(upstream, up, 9090)).toBe('hello 198.51.100.1 from web');
  expect((await sb.cli(['forward', 'list', net.name])).stdout).toMatch(new RegExp(`${net.name}\\s+tcp\\s+${up.replace(/\./g, '\\.')}:9090\\s+10\\.0\\.0\\.100:80\\s+an admin forward`));

  const again = await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '9090', '--to', '10.0.0.100:22']);
  expect(again.exitCode).toBe(2);
  expect(again.stderr).toMatch(/tcp port 9090 on .* is already forwarded to 10\.0\.0\.100:80 by an admin forward/);
  expect((await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '9091', '--to', '198.51.100.7:80'])).stderr).toMatch(/is not a guest address/);

  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  await started(net);
  // Like a guest's tap after a network restart, the test guest's veth must be plugged in again.
  await sh('ip', ['link', 'set', `${ns}h`, 'master', net.bridge]);
  expect(await sb.connect(upstream, up, 9090)).toBe('hello 198.51.100.1 from web');

  expect((await sb.cli(['forward', 'remove', net.name, '--proto', 'tcp', '--port', '9090'])).exitCode).toBe(0);
  expect(await connectFails(upstream, up, 9090)).toBe(true);
  const show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.differences).toEqual([]);
  expect(show.forwards).toEqual([]);
});

test('natns show lists the guests plugged into a network, from the port events', async () => {
  const net = defineNet(sb, '1');
  await started(net);
  const port = { port: randomUUID(), vm: 'web1', vmUuid: randomUUID(), mac: '52:54:00:12:34:99' };
  expect((await sb.hook([net.name, 'port-created', 'begin', '-'], portHookData(net.xml, port))).exitCode).toBe(0);
  let show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  // No tap carries it yet: recorded, not attached.
  expect(show.guests).toEqual([{ vm: 'web1', mac: '52:54:00:12:34:99', attached: false }]);
  // The guest's tap, as libvirt makes it (the guest's MAC with 0xfe first), on the bridge.
  const tap = sb.name('tap');
  await sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  expect((await sh('ip', ['link', 'set', 'dev', tap, 'address', 'fe:54:00:12:34:99', 'master', net.bridge, 'up'])).exitCode).toBe(0);
  show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.guests).toEqual([{ vm: 'web1', mac: '52:54:00:12:34:99', attached: true }]);
  expect((await sb.cli(['show', net.name])).stdout).toMatch(/Guests attached:\n {2}web1 {2}52:54:00:12:34:99/);
  expect((await sb.hook([net.name, 'port-deleted', 'begin', '-'], portHookData(net.xml, port))).exitCode).toBe(0);
  show = JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout);
  expect(show.guests).toEqual([]);
});

test('a kernel failure while stopping a guest is a failure (exit 1), not bad input (exit 2)', async () => {
  const net = defineNet(sb, '1');
  await started(net);
  const g = guest(net, sb.name('vm1'), '52:54:00:aa:0a:01', `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>`);
  expect((await sb.qemuHook([g.name, 'start', 'begin', '-'], g.xml)).exitCode).toBe(0);
  // The network's bridge vanishes under natns (an admin's ip link del): withdrawing the forward fails.
  await sh('ip', ['link', 'del', net.bridge]);
  const stop = await sb.qemuHook([g.name, 'stopped', 'end', '-'], g.xml);
  expect({ code: stop.exitCode, lines: stop.stderr.trim().split('\n').length }).toEqual({ code: 1, lines: 1 });
  expect(stop.stderr).toMatch(new RegExp(`^natns: guest ${g.name}: could not withdraw its forwards from ${net.name}: .*bridge ${net.bridge} does not exist`));
});
