import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { namespaceName, routerMac } from '../../src/domain/names.js';
import { defineNet, dualStackSandbox, expectStarted, POOL6, poolConfig } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';
import { countArrivals6, guestStart, sendUdp, until, upstreamsOf } from '../helpers/traffic6.js';

/**
 * IPv6 isolation against real routers, each case as traffic that must pass beside traffic that
 * must drop: spoofed sources on both sides, rogue router advertisements, the host's own
 * upstream address, neighbour discovery for addresses a router does not hold, and the ICMPv6
 * that path-MTU discovery needs.
 */
let sb: Sandbox;
let provider: string;
let upstream: string;
let hostServer: Server | undefined;
const hostConnections: Socket[] = [];

beforeEach(async () => {
  ({ sb, provider, upstream } = await dualStackSandbox(true));
});

afterEach(async () => {
  for (const c of hostConnections.splice(0)) c.destroy();
  await new Promise((r) => (hostServer ? hostServer.close(r) : r(undefined)));
  hostServer = undefined;
  await sb.cleanup();
});

/** A guest namespace with 10.0.0.x and fd00::x, routed via the router, its MAC given. */
async function guest(bridge: string, suffix: string, host: number, mac: string): Promise<string> {
  const ns = await sb.host(suffix, bridge, `10.0.0.${host}/24`, '10.0.0.1', mac);
  await sb.ipv6(ns, `fd00::${host}/64`, 'fd00::1');
  return ns;
}

test('spoofed sources drop on both sides: a guest outside fd00::/64, and the upstream side as the private subnet or the router; the real ones pass', async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  const { up6 } = await upstreamsOf(sb, net);
  const g1 = await guest(net.bridge, 'g1', 100, '52:54:00:ef:00:01');
  const g2 = await guest(net.bridge, 'g2', 101, '52:54:00:ef:00:02');
  await guestStart(sb, net, '52:54:00:ef:00:01', `<natns:address network="${net.name}" ip="fd00::100"/><natns:public network="${net.name}" address="2001:db8:100::150"/>`);
  await guestStart(sb, net, '52:54:00:ef:00:02', `<natns:address network="${net.name}" ip="fd00::101"/><natns:forward network="${net.name}" proto="udp" port="5353" to-port="53"/>`);
  const at1 = await countArrivals6(g1, 'udp', 53);
  const at2 = await countArrivals6(g2, 'udp', 53);
  const atUp = await countArrivals6(upstream, 'udp', 5300);
  // Must pass: the upstream host's own address to the 1:1 guest and the published port; the guest's own source out.
  await sendUdp(upstream, '2001:db8:100::1', '2001:db8:100::150', 53);
  await sendUdp(upstream, '2001:db8:100::1', up6, 5353);
  await sendUdp(g2, 'fd00::101', '2001:db8:100::1', 5300);
  // Must drop: a guest source outside the private /64.
  await sb.ipv6(g2, 'fd01::5/128');
  await sendUdp(g2, 'fd01::5', '2001:db8:100::1', 5300);
  // Must drop: the upstream side speaking from the private subnet, then as the router itself.
  await sh('ip', ['-n', upstream, 'addr', 'add', 'fd00::50/128', 'dev', 'eth0', 'nodad']);
  await sendUdp(upstream, 'fd00::50', '2001:db8:100::150', 53);
  await sendUdp(upstream, 'fd00::50', up6, 5353);
  await sh('ip', ['-n', upstream, 'addr', 'add', `${up6}/128`, 'dev', 'eth0', 'nodad']);
  await sendUdp(upstream, up6, '2001:db8:100::150', 53);
  await new Promise((r) => setTimeout(r, 300));
  expect([await at1(), await at2(), await atUp()]).toEqual([1, 1, 1]);
});

test("a guest's router advertisements reach its neighbours but neither the router's routes and addresses nor the upstream side", async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  // The upstream host would take router advertisements, were any to reach it.
  await sh('ip', ['netns', 'exec', upstream, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_ra=1']);
  const rogue = await sb.host('rg', net.bridge, '');
  await sb.ipv6(rogue, '2001:db8:999::5/64');
  const victim = await sb.host('vi', net.bridge, '');
  await sb.ipv6(victim, '', undefined, true);
  // dnsmasq as the rogue router, advertising its own prefix and itself as the default router.
  await until('the rogue link-local address', async () => (await sh('ip', ['-n', rogue, '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout.match(/inet6 fe80::\S+ scope link\s*$/m) ?? undefined);
  const child = execa('ip', ['netns', 'exec', rogue, 'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--enable-ra',
    '--dhcp-range=2001:db8:999::,ra-only,64', `--dhcp-leasefile=${join(sb.dir, 'rogue.leases')}`, '--pid-file='], { reject: false, buffer: false });
  sb.children.push(child);
  // Must pass: the advertisement is on the tenant segment, and a neighbour guest takes it.
  await until('the victim to take the rogue prefix', async () => (await sh('ip', ['-n', victim, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout.match(/2001:db8:999:/) ?? undefined);
  // Must drop: the router learned nothing, and nothing crossed to the upstream side.
  const ns = namespaceName(net.name);
  expect((await sh('ip', ['-n', ns, '-6', 'route', 'show'])).stdout).not.toMatch(/2001:db8:999:|proto ra/);
  expect((await sh('ip', ['-n', ns, '-6', 'addr', 'show'])).stdout).not.toContain('2001:db8:999:');
  expect(JSON.parse((await sb.cli(['show', net.name, '--json'])).stdout).differences).toEqual([]);
  expect((await sh('ip', ['-n', upstream, '-6', 'addr', 'show'])).stdout).not.toContain('2001:db8:999:');
  expect((await sh('ip', ['-n', upstream, '-6', 'route', 'show'])).stdout).not.toMatch(/2001:db8:999:|proto ra/);
});

test("the host's own upstream IPv6 address is out of the guests' reach, unless the IPv6 pool allows it", async () => {
  // The host holds 2001:db8:100::2 on the provider bridge (this sandbox's own bridge), takes no advertisements there.
  await sh('sysctl', ['-qw', `net.ipv6.conf.${provider}.accept_ra=0`, `net.ipv6.conf.${provider}.accept_dad=0`, `net.ipv6.conf.${provider}.disable_ipv6=0`]);
  await sh('ip', ['addr', 'add', '2001:db8:100::2/64', 'dev', provider, 'nodad']);
  hostServer = createServer((s) => {
    hostConnections.push(s);
    s.end('host\n');
  });
  await new Promise<void>((r) => hostServer!.listen(8082, '2001:db8:100::2', () => r()));
  await sb.recorder(upstream, 8080, '', '::');
  sb.writeConfig({
    pools: {
      ...poolConfig(provider).pools, default6: { bridge: provider, ...POOL6 },
      open6: { bridge: provider, ...POOL6, first: '2001:db8:100::200', last: '2001:db8:100::2ff', hostAccess: 'allow' },
    },
  });
  const closed = defineNet(sb, '1', { ipv6: {} });
  const open = defineNet(sb, '2', { ipv6: { upstream: '<natns:upstream pool="open6"/>' } });
  await expectStarted(sb, closed);
  await expectStarted(sb, open);
  const g1 = await guest(closed.bridge, 'g1', 100, '52:54:00:ef:01:01');
  const g2 = await guest(open.bridge, 'g2', 100, '52:54:00:ef:01:02');
  // Must pass: both reach the upstream host; the open pool's guest reaches the host too.
  expect(await sb.reaches(g1, '2001:db8:100::1', 8080)).toBe(true);
  expect(await sb.reaches(g2, '2001:db8:100::1', 8080)).toBe(true);
  expect(await sb.reaches(g2, '2001:db8:100::2', 8082)).toBe(true);
  // Must drop: the closed pool's guest.
  expect(await sb.reaches(g1, '2001:db8:100::2', 8082)).toBe(false);
});

test("each router answers neighbour solicitations for its own upstream address only, never for another network's or a private one", async () => {
  const nets = [defineNet(sb, '1', { ipv6: {} }), defineNet(sb, '2', { ipv6: {} })];
  for (const net of nets) await expectStarted(sb, net);
  for (const net of nets) {
    const { up6 } = await upstreamsOf(sb, net);
    // Must pass: resolved, to this network's router MAC.
    expect(await sb.ping(upstream, up6)).toBe(true);
    expect((await sh('ip', ['-n', upstream, '-6', 'neigh', 'show', up6])).stdout).toContain(`lladdr ${routerMac(net.uuid, 'wan')} `);
  }
  // Must drop: the private gateway both routers hold on their lan, asked on the provider segment.
  await sh('ip', ['-n', upstream, '-6', 'route', 'add', 'fd00::/64', 'dev', 'eth0']);
  expect(await sb.ping(upstream, 'fd00::1')).toBe(false);
  expect((await sh('ip', ['-n', upstream, '-6', 'neigh', 'show', 'fd00::1'])).stdout).not.toContain('lladdr');
});

test('path-MTU discovery works through the router: an upstream router\'s packet-too-big reaches the guest, which then gets through', async () => {
  const net = defineNet(sb, '1', { ipv6: {} });
  await expectStarted(sb, net);
  const g = await guest(net.bridge, 'g1', 100, '52:54:00:ef:02:01');
  // Behind the upstream host, a 1280-byte link to a far host.
  const far = await sb.bridge('fb');
  await sh('ip', ['link', 'set', far, 'mtu', '1280']);
  const farHost = await sb.host('fh', far, '');
  await sh('ip', ['link', 'add', sb.name('u2'), 'mtu', '1280', 'master', far, 'type', 'veth', 'peer', 'name', 'eth1', 'mtu', '1280', 'netns', upstream]);
  await sh('ip', ['link', 'set', sb.name('u2'), 'up']);
  await sh('ip', ['link', 'set', sb.name('fh') + 'h', 'mtu', '1280']);
  await sh('ip', ['-n', farHost, 'link', 'set', 'eth0', 'mtu', '1280']);
  await sh('ip', ['-n', upstream, 'link', 'set', 'eth1', 'up']);
  await sh('ip', ['netns', 'exec', upstream, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  await sh('ip', ['-n', upstream, 'addr', 'add', '2001:db8:300::1/64', 'dev', 'eth1', 'nodad']);
  await sb.ipv6(farHost, '2001:db8:300::2/64', '2001:db8:300::1');
  // Neighbours on the far link resolve first (its link-local addresses are still tentative).
  await until('the far host to answer', async () => ((await sb.ping(g, '2001:db8:300::2')) ? true : undefined), 8_000);
  // A 1400-byte echo does not fit the far link: the upstream host answers packet-too-big to
  // the router's upstream address, which must reach the guest, whose next attempts then fit.
  const big = async () => (await sh('ip', ['netns', 'exec', g, 'busybox', 'ping', '-c', '1', '-W', '2', '-s', '1400', '2001:db8:300::2'])).exitCode === 0;
  await big();
  expect(await until('a big echo to get through', async () => ((await big()) ? true : undefined), 8_000)).toBe(true);
  expect((await sh('ip', ['-n', g, '-6', 'route', 'get', '2001:db8:300::2'])).stdout).toMatch(/mtu 1280/);
});
