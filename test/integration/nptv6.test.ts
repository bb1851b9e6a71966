import { defineNet, dualStackSandbox, expectStarted, type TestNet } from '../helpers/hooknet.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';
import { udpEcho, udpEchoServer6 } from '../helpers/traffic6.js';

/**
 * NPTv6: each network's fd00::/64 is translated 1:1 to a /64 of its own from a prefix pool,
 * statelessly, so every guest is reached by its translated address and seen by it.
 */
let sb: Sandbox;
let upstream: string;

beforeEach(async () => {
  ({ sb, upstream } = await dualStackSandbox(true));
  const config = JSON.parse((await sh('cat', [sb.env.NATNS_CONFIG!])).stdout);
  config.pools.npt = { bridge: config.pools.default.bridge, subnet: '2001:db8:200::/56', prefixLength: 64, gateway: '2001:db8:100::1' };
  sb.writeConfig(config);
});

afterEach(async () => {
  await sb.cleanup();
});

interface Mapping { network: string; upstream6: { address: string; prefix: number; mode: string; nextHop: string; pool: string } }

async function mappingOf(net: TestNet): Promise<Mapping> {
  return (JSON.parse((await sb.cli(['list', '--json'])).stdout) as Mapping[]).find((m) => m.network === net.name)!;
}

test('two NPTv6 networks with the same fd00::/64: each guest leaves as its own translated address and is reached by it, over TCP, UDP and ICMPv6', async () => {
  const tcp6 = await sb.recorder(upstream, 8080, '', '::');
  const nets = [defineNet(sb, '1', { ipv6: { upstream: '<natns:upstream pool="npt" mode="nptv6"/>' } }), defineNet(sb, '2', { ipv6: { upstream: '<natns:upstream pool="npt" mode="nptv6"/>' } })];
  const translated: string[] = [];
  for (const [i, net] of nets.entries()) {
    await expectStarted(sb, net);
    const m = await mappingOf(net);
    expect(m.upstream6).toMatchObject({ address: i === 0 ? '2001:db8:200::' : '2001:db8:200:1::', prefix: 64, mode: 'nptv6', pool: 'npt' });
    // The upstream router routes each leased prefix to its router's link-local address, as the README says.
    await sh('ip', ['-n', upstream, '-6', 'route', 'add', `${m.upstream6.address}/64`, 'via', m.upstream6.nextHop, 'dev', 'eth0']);
    const g = await sb.host(`g${i + 1}`, net.bridge, '10.0.0.100/24', '10.0.0.1');
    await sb.ipv6(g, 'fd00::100/64', 'fd00::1');
    await sb.recorder(g, 80, `g${i + 1}`, '::');
    await udpEchoServer6(sb, g, 53);
    translated.push(`${m.upstream6.address}100`);
    expect(await sb.connect(g, '2001:db8:100::1', 8080)).toBe(`hello ${translated[i]}`);
    expect(await sb.ping(g, '2001:db8:100::1')).toBe(true);
  }
  expect(tcp6.sources()).toEqual(translated);
  for (const [i, t] of translated.entries()) {
    expect(await sb.connect(upstream, t, 80)).toBe(`hello 2001:db8:100::1 from g${i + 1}`);
    expect(await udpEcho(upstream, t, 53)).toBe('echo 2001:db8:100::1');
    expect(await sb.ping(upstream, t)).toBe(true);
  }
  // The router's own address translates too; it answers ICMPv6 there and nothing else.
  expect(await sb.ping(upstream, '2001:db8:200::1')).toBe(true);
  expect(await sb.reaches(upstream, '2001:db8:200::1', 53)).toBe(false);
  // Stateless and converged: a second start changes nothing.
  expect(JSON.parse((await sb.cli(['show', nets[0]!.name, '--json'])).stdout).differences).toEqual([]);
});
