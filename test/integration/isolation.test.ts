import { randomUUID } from 'node:crypto';
import { createSocket, type Socket as Socket6 } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespaceName } from '../../src/domain/names.js';
import { defineNet, domainXml, expectStarted, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * Hostile tenants and neighbours against real routers: each case drives traffic that must drop
 * beside traffic that must pass, from namespaces playing guests, the upstream host and a
 * neighbour on the provider bridge.
 */
const here = dirname(fileURLToPath(import.meta.url));
let sb: Sandbox;
let provider: string;
let upstream: string;
let hostServer: Server | undefined;
const hostConnections: Socket[] = [];

beforeEach(async () => {
  ({ sb, provider, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  // close() waits for open connections, and one that got through must not hold the suite.
  for (const c of hostConnections.splice(0)) c.destroy();
  await new Promise((r) => (hostServer ? hostServer.close(r) : r(undefined)));
  hostServer = undefined;
  await sb.cleanup();
});

const started = (net: TestNet) => expectStarted(sb, net);

async function upstreamOf(net: TestNet): Promise<string> {
  const list = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string; upstream: { address: string } }[];
  return list.find((m) => m.network === net.name)!.upstream.address;
}

/** Start a guest through the qemu hook with this natns metadata; it must be accepted. */
async function guestStart(net: TestNet, mac: string, metadata: string): Promise<void> {
  const name = sb.name(`vm${mac.slice(-2)}`);
  const r = await sb.qemuHook([name, 'start', 'begin', '-'], domainXml({ name, uuid: randomUUID(), network: net.name, mac, metadata }));
  expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
}

/** Counts, inside `ns`, packets that arrive for `port` (what a guest really received, handshake or not). */
async function countArrivals(ns: string, proto: 'tcp' | 'udp', port: number): Promise<() => Promise<number>> {
  await sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], `table ip tstcount {\n\tchain input {\n\t\ttype filter hook prerouting priority -400; policy accept;\n\t\t${proto} dport ${port} counter\n\t}\n}\n`);
  return async () => {
    const out = (await sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'tstcount'])).stdout;
    return Number(/counter packets (\d+)/.exec(out)?.[1] ?? -1);
  };
}

/** One UDP datagram from `source` (an address of `ns`) to address:port. */
async function sendUdp(ns: string, source: string, address: string, port: number): Promise<void> {
  const js = `const s=require('dgram').createSocket(${JSON.stringify(address.includes(':') ? 'udp6' : 'udp4')});s.bind({address:${JSON.stringify(source)}},()=>s.send('x',${port},${JSON.stringify(address)},()=>s.close()))`;
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', js]);
  expect(r.stderr).toBe('');
}

/** True when a TCP handshake with address:port completes within 2 s (for servers that wait for the client, like DNS). */
async function handshakes(ns: string, address: string, port: number): Promise<boolean> {
  const js = `const s=require('net').connect(${port},${JSON.stringify(address)},()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),2000)`;
  return (await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', js])).exitCode === 0;
}

test("a 1:1 guest cannot reach the host's own address on the provider bridge, and still goes out", async () => {
  await sh('ip', ['addr', 'add', '198.51.100.2/24', 'dev', provider]);
  hostServer = createServer((s) => {
    hostConnections.push(s);
    s.end('host\n');
  });
  await new Promise<void>((r) => hostServer!.listen(8081, '198.51.100.2', () => r()));
  await sb.recorder(upstream, 8080);
  const net = defineNet(sb, '1');
  await started(net);
  const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1', '52:54:00:cc:00:01');
  await guestStart(net, '52:54:00:cc:00:01', `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:public network="${net.name}" address="198.51.100.150"/>`);
  // Must pass: out to the upstream host, seen from the guest's public address.
  expect(await sb.connect(g, '198.51.100.1', 8080)).toBe('hello 198.51.100.150');
  // Must drop: the host itself, although 1:1 traffic is untracked.
  expect(await sb.reaches(g, '198.51.100.2', 8081)).toBe(false);
});

test('the upstream side cannot speak as a guest or as the router: spoofed sources never reach a 1:1 guest or a published port', async () => {
  const net = defineNet(sb, '1');
  await started(net);
  const up = await upstreamOf(net);
  const g1 = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1', '52:54:00:cc:00:01');
  const g2 = await sb.host('g2', net.bridge, '10.0.0.101/24', '10.0.0.1', '52:54:00:cc:00:02');
  await guestStart(net, '52:54:00:cc:00:01', `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:public network="${net.name}" address="198.51.100.150"/>`);
  await guestStart(net, '52:54:00:cc:00:02', `<natns:address network="${net.name}" ip="10.0.0.101"/><natns:forward network="${net.name}" proto="udp" port="5353" to-port="53"/>`);
  const at1 = await countArrivals(g1, 'udp', 53);
  const at2 = await countArrivals(g2, 'udp', 53);
  // Must pass: from the upstream host's own address.
  await sendUdp(upstream, '198.51.100.1', '198.51.100.150', 53);
  await sendUdp(upstream, '198.51.100.1', up, 5353);
  // Must drop: the upstream host also holds an address of the private subnet, and then the
  // router's own address (last: once it holds it, it would deliver to `up` locally).
  await sh('ip', ['-n', upstream, 'addr', 'add', '10.0.0.50/32', 'dev', 'eth0']);
  await sendUdp(upstream, '10.0.0.50', '198.51.100.150', 53);
  await sendUdp(upstream, '10.0.0.50', up, 5353);
  await sh('ip', ['-n', upstream, 'addr', 'add', `${up}/32`, 'dev', 'eth0', 'nodad']);
  await sendUdp(upstream, up, '198.51.100.150', 53);
  await new Promise((r) => setTimeout(r, 300));
  expect([await at1(), await at2()]).toEqual([1, 1]);
});

test("the router namespace answers only what it serves: DHCP and DNS to its guests, the proxy port to its guests, ICMP; nothing else from upstream or other tenants", async () => {
  const dhcp = '<natns:dhcp start="10.0.0.150" end="10.0.0.159"/>';
  const tproxy = '<natns:tproxy proto="tcp" ports="80" to-port="3128"/>';
  const n1 = defineNet(sb, '1', { upstream: `<natns:upstream pool="default"/>${dhcp}${tproxy}` });
  const n2 = defineNet(sb, '2');
  await started(n1);
  await started(n2);
  const [up1] = [await upstreamOf(n1)];
  const g1 = await sb.host('g1', n1.bridge, '10.0.0.100/24', '10.0.0.1');
  const g2 = await sb.host('g2', n2.bridge, '10.0.0.100/24', '10.0.0.1');
  // A listener in the router namespace, as the README's proxy recipe starts one.
  await sb.spawnReady(namespaceName(n1.name), 'python3', [join(here, '..', 'helpers', 'tproxy-listener.py'), '3128']);
  // Must pass: its own guests reach DNS and the proxy port, and ICMP works from everywhere.
  expect(await handshakes(g1, '10.0.0.1', 53)).toBe(true);
  expect(await sb.reaches(g1, '10.0.0.1', 3128)).toBe(true);
  expect(await sb.ping(upstream, up1)).toBe(true);
  // Must drop: the proxy port from upstream and from another tenant, through the upstream address.
  expect(await sb.reaches(upstream, up1, 3128)).toBe(false);
  expect(await sb.reaches(g2, up1, 3128)).toBe(false);
  // Must drop: dnsmasq (listening on the private gateway) from a neighbour that routes the
  // private subnet through the router.
  await sh('ip', ['-n', upstream, 'route', 'add', '10.0.0.0/24', 'via', up1]);
  expect(await handshakes(upstream, '10.0.0.1', 53)).toBe(false);
  // DHCP still serves the guests.
  expect(await sb.dhcp(await sb.host('g3', n1.bridge, ''))).toMatch(/^10\.0\.0\.15\d$/);
});

test('an admin opens a service in the namespace with <natns:input>, for the side it names only', async () => {
  const n1 = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:input proto="tcp" ports="2222" from="wan"/>' });
  await started(n1);
  const up1 = await upstreamOf(n1);
  const g1 = await sb.host('g1', n1.bridge, '10.0.0.100/24', '10.0.0.1');
  await sb.recorder(namespaceName(n1.name), 2222, 'router');
  expect(await sb.connect(upstream, up1, 2222)).toBe('hello 198.51.100.1 from router');
  expect(await sb.reaches(g1, '10.0.0.1', 2222)).toBe(false);
  expect((await sb.cli(['check', n1.name])).stdout).toBe('ok: the kernel matches the plan');
});

test("hairpin works for a 1:1 guest too: it reaches its own network's published port", async () => {
  const net = defineNet(sb, '1');
  await started(net);
  const up = await upstreamOf(net);
  const a = await sb.host('ga', net.bridge, '10.0.0.100/24', '10.0.0.1', '52:54:00:cc:00:0a');
  const b = await sb.host('gb', net.bridge, '10.0.0.101/24', '10.0.0.1', '52:54:00:cc:00:0b');
  await sb.recorder(b, 80, 'b');
  await guestStart(net, '52:54:00:cc:00:0a', `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:public network="${net.name}" address="198.51.100.150"/>`);
  await guestStart(net, '52:54:00:cc:00:0b', `<natns:address network="${net.name}" ip="10.0.0.101"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>`);
  expect(await sb.connect(a, up, 8080)).toBe('hello 10.0.0.1 from b');
  // And from upstream, as before.
  expect(await sb.connect(upstream, up, 8080)).toBe('hello 198.51.100.1 from b');
});

describe("the host on a natns network's bridge", () => {
  let server: Socket6 | undefined;
  afterEach(async () => {
    server?.close();
    server = undefined;
  });

  test('answers no ARP, receives no IPv4 or IPv6 from guests and forwards nothing for them, while guests still go out', async () => {
    // The host's own addresses, on a device of the test's, with a UDP listener that counts what
    // arrives: a packet arriving is the breach, whatever the host would answer.
    // (A bridge without ports: this kernel has no dummy devices.)
    const dummy = await sb.bridge('dm');
    expect((await sh('ip', ['addr', 'add', '203.0.113.250/32', 'dev', dummy])).exitCode).toBe(0);
    expect((await sh('ip', ['addr', 'add', '2001:db8:fe::250/128', 'dev', dummy, 'nodad'])).exitCode).toBe(0);
    const arrived: string[] = [];
    server = createSocket({ type: 'udp6', ipv6Only: false });
    server.on('message', (_m, r) => arrived.push(r.address));
    await new Promise<void>((r) => server!.bind(8083, '::', () => r()));
    await sb.recorder(upstream, 8080);
    const net = defineNet(sb, '1');
    await started(net);
    const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
    await sh('ip', ['-n', g, 'addr', 'add', '2001:db8:fe::2/64', 'dev', 'eth0', 'nodad']);
    // Must pass: out through the router.
    expect(await sb.connect(g, '198.51.100.1', 8080)).toMatch(/^hello 198\.51\.100\.1\d\d$/);
    // Must drop: the host's address made on-link: no ARP answer, nothing arrives...
    await sh('ip', ['-n', g, 'route', 'add', '203.0.113.250/32', 'dev', 'eth0']);
    await sendUdp(g, '10.0.0.100', '203.0.113.250', 8083);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await sh('ip', ['-n', g, 'neigh', 'show', '203.0.113.250'])).stdout).not.toContain('lladdr');
    // ...nor with the bridge's MAC written in by hand (what a guest can sniff)...
    const bridgeMac = (await sh('cat', [`/sys/class/net/${net.bridge}/address`])).stdout.trim();
    await sh('ip', ['-n', g, 'neigh', 'replace', '203.0.113.250', 'lladdr', bridgeMac, 'dev', 'eth0', 'nud', 'permanent']);
    await sendUdp(g, '10.0.0.100', '203.0.113.250', 8083);
    // ...nor over IPv6.
    await sh('ip', ['-n', g, 'route', 'add', '2001:db8:fe::250/128', 'dev', 'eth0']);
    await sendUdp(g, '2001:db8:fe::2', '2001:db8:fe::250', 8083);
    await new Promise((r) => setTimeout(r, 1500));
    expect(arrived).toEqual([]);
    // The host never routes for a guest on this bridge.
    expect((await sh('cat', [`/proc/sys/net/ipv4/conf/${net.bridge}/forwarding`])).stdout.trim()).toBe('0');
    // The listener is live: the drops above are the bridge's doing, not a dead server.
    const self = createSocket('udp4');
    await new Promise<void>((r) => self.send('x', 8083, '203.0.113.250', () => r()));
    self.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(arrived).toEqual(['::ffff:203.0.113.250']);
  });

  test("turns STP off, so a rebuilt router's port forwards at once", async () => {
    const net = defineNet(sb, '1');
    // As libvirt makes it: STP on (its default), so a new port listens and learns for ~4 s.
    const begin = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
    expect(begin.exitCode).toBe(0);
    await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge', 'stp_state', '1']);
    await sh('ip', ['link', 'set', net.bridge, 'up']);
    expect((await sb.hook([net.name, 'started', 'begin', '-'], net.xml)).exitCode).toBe(0);
    await sb.recorder(upstream, 8080);
    // A guest plugs in and is through the router within 2 s (with STP on: about 4 s of silence).
    const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
    expect(await sb.reaches(g, '198.51.100.1', 8080)).toBe(true);
  });
});

describe('a host forward rule on the bridges, with br_netfilter', () => {
  let saved: string | undefined;
  afterEach(async () => {
    await sh('nft', ['delete', 'table', 'ip', sb.id]);
    if (saved !== undefined) await sh('sysctl', ['-qw', `net.bridge.bridge-nf-call-iptables=${saved}`]);
    saved = undefined;
  });

  test('is named by natns check, and an accept of natns bridges before it clears it', async () => {
    const path = '/proc/sys/net/bridge/bridge-nf-call-iptables';
    const current = await sh('cat', [path]);
    if (current.exitCode !== 0) return; // no br_netfilter on this kernel: nothing can interfere
    saved = current.stdout.trim();
    await sh('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1']);
    const net = defineNet(sb, '1');
    await started(net);
    const g = await sb.host('g1', net.bridge, '10.0.0.100/24', '10.0.0.1');
    await sb.recorder(upstream, 8080);
    expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
    // An admin's rule for routed traffic from the provider bridge.
    const table = (rules: string) => `table ip ${sb.id} {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n${rules}\t}\n}\n`;
    await sh('nft', ['-f', '-'], table(`\t\tiifname "${provider}" drop\n`));
    // Must drop (the breach this reports): natns traffic dies in the host's forward hook...
    expect(await sb.reaches(g, '198.51.100.1', 8080)).toBe(false);
    // ...and check says so, naming the rule and the fix.
    const check = await sb.cli(['check', net.name]);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain(`bridge-nf-call-iptables=1 sends natns's bridged traffic through the host's forward hook, where host chain ip ${sb.id} forward (forward hook) rule iifname "${provider}" drop`);
    expect(check.stdout).toContain(`accept natns's bridges (${[net.bridge, provider].sort().join(', ')}) before it`);
    // The admin accepts natns's bridges first: traffic passes and check is clean again.
    await sh('nft', ['delete', 'table', 'ip', sb.id]);
    await sh('nft', ['-f', '-'], table(`\t\tiifname { "${net.bridge}", "${provider}" } accept\n\t\tiifname "${provider}" drop\n`));
    expect(await sb.reaches(g, '198.51.100.1', 8080)).toBe(true);
    expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
  });
});
