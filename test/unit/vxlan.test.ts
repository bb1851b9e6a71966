import { InputError } from '../../src/domain/errors.js';
import { parseConfig } from '../../src/config/config.js';
import { readNetwork } from '../../src/libvirt/network-xml.js';
import { child, parseXml } from '../../src/libvirt/xml.js';
import { diffRouter } from '../../src/plan/diff.js';
import { mergeLeases, planDhcp } from '../../src/plan/dnsmasq.js';
import { NOTHING, type IpLink, type ObservedRouter } from '../../src/plan/observed.js';
import { planRouter, type RouterInput } from '../../src/plan/router.js';
import { networkXml } from '../helpers/xml.js';

const UUID = '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10';

function read(vxlan: string) {
  const xml = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream: `<natns:upstream pool="default"/>${vxlan}` });
  return readNetwork(child(parseXml(xml, 'test'), 'network')!).spec!;
}

function refusal(vxlan: string): string {
  try {
    read(vxlan);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('<natns:vxlan>', () => {
  test('reads vni, remotes (deduplicated, sorted), local, dev and port', () => {
    const spec = read('<natns:vxlan vni="4100" remotes=" 192.0.2.12  192.0.2.11 192.0.2.12" local="192.0.2.11" dev="eth1" port="4790"/>');
    expect(spec.vxlan).toEqual({ vni: 4100, remotes: ['192.0.2.11', '192.0.2.12'], local: '192.0.2.11', dev: 'eth1', port: 4790 });
  });

  test('local and dev are optional, the port defaults to 4789', () => {
    expect(read('<natns:vxlan vni="1" remotes="192.0.2.11"/>').vxlan).toEqual({ vni: 1, remotes: ['192.0.2.11'], port: 4789 });
  });

  test.each([
    ['<natns:vxlan vni="0" remotes="192.0.2.11"/>', /vni.*from 1 to 16777215/],
    ['<natns:vxlan vni="16777216" remotes="192.0.2.11"/>', /vni.*from 1 to 16777215/],
    ['<natns:vxlan remotes="192.0.2.11"/>', /needs the attribute vni/],
    ['<natns:vxlan vni="5"/>', /needs the attribute remotes/],
    ['<natns:vxlan vni="5" remotes="  "/>', /remotes> is empty/],
    ['<natns:vxlan vni="5" remotes="192.0.2.11 host-b"/>', /remotes.*'host-b' is not an IPv4 address/],
    ['<natns:vxlan vni="5" remotes="192.0.2.11" local="x"/>', /local/],
    ['<natns:vxlan vni="5" remotes="192.0.2.11" port="0"/>', /port/],
    ['<natns:vxlan vni="5" remotes="192.0.2.11" dev="a b"/>', /dev/],
    ['<natns:vxlan vni="5" remotes="192.0.2.11"/><natns:vxlan vni="6" remotes="192.0.2.11"/>', /appears 2 times/],
  ])('refuses %s', (xml, message) => {
    expect(refusal(xml)).toMatch(message);
  });

  test('a dual-stack network cannot be stretched yet, in words', () => {
    const xml = networkXml({
      name: 'n', uuid: UUID, bridge: 'virbr1',
      upstream: '<natns:upstream pool="default"/><natns:private address="fd00::1" prefix="64"/><natns:upstream pool="default6"/><natns:vxlan vni="1" remotes="192.0.2.11"/>',
    });
    expect(() => readNetwork(child(parseXml(xml, 'test'), 'network')!)).toThrow(/<vxlan> stretches IPv4-only networks/);
  });

  test('the host config may give this host\'s VTEP address', () => {
    expect(parseConfig('{"vxlanLocal": "192.0.2.11"}', 'c').vxlanLocal).toBe('192.0.2.11');
    expect(() => parseConfig('{"vxlanLocal": "eth1"}', 'c')).toThrow(/"vxlanLocal".*not an IPv4 address/);
  });
});

const input: RouterInput = {
  network: {
    name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 },
    vxlan: { vni: 4100, remotes: ['192.0.2.11', '192.0.2.12', '192.0.2.13'], port: 4789 },
  },
  lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
  mtu: { lan: 1500, wan: 1500 },
  underlay: { local: '192.0.2.12', mtu: 1500 },
};

describe('stretch plan', () => {
  const plan = planRouter(input);

  test('a vxlan device on the bridge, towards every other host, 50 bytes under the underlay', () => {
    expect(plan.vxlan).toEqual({
      name: plan.vxlanName, vni: 4100, local: '192.0.2.12', remotes: ['192.0.2.11', '192.0.2.13'], port: 4789, mtu: 1450, master: 'virbr1',
    });
    expect(plan.vxlanName).toMatch(/^nnx-[0-9a-f]{11}$/);
    expect(plan.lan.mtu).toBe(1450);
    // A jumbo underlay leaves the bridge's own MTU the limit.
    expect(planRouter({ ...input, underlay: { local: '192.0.2.12', mtu: 9000 } }).lan.mtu).toBe(1500);
    expect(planRouter({ ...input, network: { ...input.network, vxlan: undefined } }).vxlan).toBeUndefined();
  });

  test('a fresh build creates it, enslaves it and adds one all-zero FDB entry per remote', () => {
    const c = diffRouter(plan, NOTHING);
    expect(c.host).toEqual(expect.arrayContaining([
      `link add ${plan.vxlanName} mtu 1450 type vxlan id 4100 local 192.0.2.12 dstport 4789`,
      `link set ${plan.vxlanName} master virbr1`,
      `link set ${plan.vxlanName} up`,
    ]));
    expect(c.fdb).toEqual([
      `fdb append 00:00:00:00:00:00 dev ${plan.vxlanName} dst 192.0.2.11`,
      `fdb append 00:00:00:00:00:00 dev ${plan.vxlanName} dst 192.0.2.13`,
    ]);
  });

  const vx = (extra: Partial<IpLink> & { data?: object }): IpLink => ({
    ifindex: 30, ifname: plan.vxlanName, flags: ['UP'], mtu: 1450, master: 'virbr1', inet6_addr_gen_mode: 'none',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 4100, local: '192.0.2.12', port: 4789, ...(extra.data ?? {}) } }, ...extra,
  });
  const observed = (link: IpLink, fdb: ObservedRouter['fdb']): ObservedRouter => ({ ...NOTHING, host: { [plan.vxlanName]: link }, fdb });
  const allFdb = [{ mac: '00:00:00:00:00:00', dst: '192.0.2.11' }, { mac: '00:00:00:00:00:00', dst: '192.0.2.13' }];

  test('a device built to plan needs nothing', () => {
    const c = diffRouter(plan, observed(vx({}), allFdb));
    expect(c.differences.filter((d) => d.includes(plan.vxlanName))).toEqual([]);
    expect(c.fdb).toEqual([]);
  });

  test('drifted MTU, bridge, state and remotes are fixed in place', () => {
    const c = diffRouter(plan, observed(vx({ mtu: 1500, master: 'br0', flags: [] }), [allFdb[0]!, { mac: '00:00:00:00:00:00', dst: '203.0.113.9' }]));
    expect(c.host).toEqual(expect.arrayContaining([
      `link set ${plan.vxlanName} mtu 1450`, `link set ${plan.vxlanName} master virbr1`, `link set ${plan.vxlanName} up`,
    ]));
    expect(c.host.some((l) => l.startsWith(`link del ${plan.vxlanName}`))).toBe(false);
    expect(c.fdb).toEqual([
      `fdb del 00:00:00:00:00:00 dev ${plan.vxlanName} dst 203.0.113.9`,
      `fdb append 00:00:00:00:00:00 dev ${plan.vxlanName} dst 192.0.2.13`,
    ]);
  });

  test('another VNI recreates the device; a foreign device of the name is a conflict', () => {
    const c = diffRouter(plan, observed(vx({ data: { id: 99 } }), allFdb));
    expect(c.differences).toContain(`${plan.vxlanName} has VNI 99, want 4100`);
    expect(c.host.indexOf(`link del ${plan.vxlanName}`)).toBeLessThan(c.host.findIndex((l) => l.startsWith(`link add ${plan.vxlanName}`)));
    expect(c.fdb).toHaveLength(2);
    const foreign = diffRouter(plan, observed({ ifindex: 30, ifname: plan.vxlanName, linkinfo: { info_kind: 'bridge' } }, []));
    expect(foreign.conflicts[0]).toMatch(/exists as a bridge, not as natns's VXLAN device/);
  });

  test('a network no longer stretched loses its device', () => {
    const flat = planRouter({ ...input, network: { ...input.network, vxlan: undefined } });
    expect(diffRouter(flat, observed(vx({}), allFdb)).host).toContain(`link del ${plan.vxlanName}`);
  });

  test('DHCP hands out the reduced MTU (option 26) only when asked', () => {
    const base = { network: 'n', namespace: 'natns-n', dir: '/d', private: { address: '10.0.0.1', prefix: 24 }, range: { start: '10.0.0.100', end: '10.0.0.199' }, reservations: [] };
    expect(planDhcp({ ...base, mtu: 1450 }).conf).toContain('dhcp-option=option:mtu,1450\n');
    expect(planDhcp(base).conf).not.toContain('option:mtu');
  });
});

describe('DHCP leases moving with the active router', () => {
  const A = '02:00:00:00:00:0a';
  const B = '02:00:00:00:00:0b';
  const C = '02:00:00:00:00:0c';

  test('the shared leases join this host\'s; a MAC keeps its later lease, an address its later holder', () => {
    const local = `duid 00:01:02\n100 ${A} 10.0.0.100 a *\n300 ${C} 10.0.0.105 c *\n`;
    const shared = `200 ${A} 10.0.0.101 a 01:aa\n400 ${B} 10.0.0.105 b *\n`;
    expect(mergeLeases(local, shared)).toBe(`duid 00:01:02\n200 ${A} 10.0.0.101 a 01:aa\n400 ${B} 10.0.0.105 b *\n`);
  });

  test('an infinite lease (expiry 0) outlives every other; nothing shared leaves the file as it was', () => {
    expect(mergeLeases(`0 ${A} 10.0.0.100 a *\n`, `900 ${A} 10.0.0.101 a *\n`)).toBe(`0 ${A} 10.0.0.100 a *\n`);
    expect(mergeLeases(`100 ${A} 10.0.0.100 a *\n`, '')).toBe(`100 ${A} 10.0.0.100 a *\n`);
  });
});
