import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { FileIpam } from '../../src/ipam/ipam.js';
import { FileLeaseStore } from '../../src/ipam/leases.js';
import { linkLocalFromMac } from '../../src/domain/address.js';
import { InputError } from '../../src/domain/errors.js';
import { readDomain } from '../../src/libvirt/domain-xml.js';
import { readNetwork } from '../../src/libvirt/network-xml.js';
import { planDhcp } from '../../src/plan/dnsmasq.js';
import { child, parseXml } from '../../src/libvirt/xml.js';
import { routerMac } from '../../src/domain/names.js';
import { diffRouter } from '../../src/plan/diff.js';
import { NOTHING, type ObservedRouter } from '../../src/plan/observed.js';
import { nftReplaceScript, planRouter, type RouterInput } from '../../src/plan/router.js';
import { domainXml } from '../helpers/hooknet.js';
import { networkXml, type NetXmlOptions } from '../helpers/xml.js';

const UUID = '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10';

function read(o: Partial<NetXmlOptions>) {
  return readNetwork(child(parseXml(networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', ...o }), 'test'), 'network')!).spec!;
}

function refusal(o: Partial<NetXmlOptions>): string {
  try {
    read(o);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('dual-stack network XML', () => {
  test('a second <private> and <upstream> give the network its IPv6 side; NAT66 is the default mode', () => {
    const spec = read({ ipv6: {} });
    expect(spec.private).toEqual({ address: '10.0.0.1', prefix: 24 });
    expect(spec.upstream).toEqual({ kind: 'pool', pool: 'default' });
    expect(spec.private6).toEqual({ address: 'fd00::1', prefix: 64 });
    expect(spec.upstream6).toEqual({ kind: 'pool', pool: 'default6', mode: 'nat66' });
  });

  test('an IPv4-only network has no IPv6 keys at all', () => {
    expect(Object.keys(read({}))).not.toContain('private6');
    expect(Object.keys(read({}))).not.toContain('upstream6');
  });

  test('the IPv6 elements may come first; each <upstream> serves the <private> in its position', () => {
    const xml = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1' })
      .replace('<natns:private address="10.0.0.1" prefix="24"/>', '<natns:private address="FD00:0::1" prefix="64"/><natns:private address="10.0.0.1" prefix="24"/>')
      .replace('<natns:upstream pool="default"/>', '<natns:upstream pool="v6" mode="nptv6"/><natns:upstream pool="v4"/>');
    const spec = readNetwork(child(parseXml(xml, 't'), 'network')!).spec!;
    expect(spec.private6).toEqual({ address: 'fd00::1', prefix: 64 });
    expect(spec.upstream6).toEqual({ kind: 'pool', pool: 'v6', mode: 'nptv6' });
    expect(spec.upstream).toEqual({ kind: 'pool', pool: 'v4' });
  });

  test('a fixed IPv6 upstream, with a link-local or an on-link gateway', () => {
    expect(read({ ipv6: { upstream: '<natns:upstream bridge="br0" address="2001:db8:100::120" prefix="64" gateway="fe80::1"/>' } }).upstream6)
      .toEqual({ kind: 'fixed', bridge: 'br0', address: '2001:db8:100::120', prefix: 64, gateway: 'fe80::1', mode: 'nat66' });
    expect(read({ ipv6: { upstream: '<natns:upstream bridge="br0" address="2001:db8:100::120" prefix="64" gateway="2001:db8:100::1"/>' } }).upstream6)
      .toMatchObject({ gateway: '2001:db8:100::1' });
    expect(read({ ipv6: { upstream: '<natns:upstream bridge="br0" address="2001:db8:200:1::" prefix="64" gateway="fe80::1" mode="nptv6"/>' } }).upstream6)
      .toEqual({ kind: 'fixed', bridge: 'br0', address: '2001:db8:200:1::', prefix: 64, gateway: 'fe80::1', mode: 'nptv6' });
  });

  // Item 6 of the issue: one line each, before anything is built or leased.
  test.each([
    ['a /56 private prefix (SLAAC needs /64)', { prefix: '56' }, /<private prefix> for fd00::1 is \/56, but guests configure IPv6 by SLAAC, which needs a \/64/],
    ['a link-local private address', { address: 'fe80::1' }, /<private address> fe80::1 is a link-local address \(fe80::\/10\)/],
    ['a multicast private address', { address: 'ff02::1' }, /<private address> ff02::1 is a multicast address/],
    ['the subnet-router anycast address as gateway', { address: 'fd00::' }, /subnet-router anycast address of fd00::\/64/],
    ['a private prefix overlapping its upstream',
      { address: '2001:db8:100::1', upstream: '<natns:upstream bridge="br0" address="2001:db8:100::120" prefix="64" gateway="2001:db8:100::2"/>' },
      /private subnet 2001:db8:100::\/64 overlaps upstream subnet 2001:db8:100::\/64/],
    ['a link-local upstream address', { upstream: '<natns:upstream bridge="br0" address="fe80::5" prefix="64" gateway="fe80::1"/>' }, /<upstream address> fe80::5 is a link-local address/],
    ['a multicast upstream gateway', { upstream: '<natns:upstream bridge="br0" address="2001:db8:100::5" prefix="64" gateway="ff02::2"/>' }, /<upstream gateway> ff02::2 is a multicast address/],
    ['an off-link global gateway', { upstream: '<natns:upstream bridge="br0" address="2001:db8:100::5" prefix="64" gateway="2001:db8:999::1"/>' }, /gateway 2001:db8:999::1 is not on-link/],
    ['an IPv4 address on the IPv6 element', { upstream: '<natns:upstream bridge="br0" address="198.51.100.5" prefix="24" gateway="198.51.100.1"/>' }, /198.51.100.5 is IPv4, but this <upstream> serves the IPv6 <private> fd00::1\/64/],
    ['an unknown mode', { upstream: '<natns:upstream pool="p" mode="nat64"/>' }, /<upstream mode> must be nat66 or nptv6, not 'nat64'/],
    ['an NPTv6 prefix of another length', { upstream: '<natns:upstream bridge="br0" address="2001:db8:200::" prefix="56" gateway="fe80::1" mode="nptv6"/>' }, /NPTv6 translates the private \/64 to a prefix of the same length/],
  ])('refuses %s', (_what, v6, message) => {
    expect(refusal({ ipv6: v6 })).toMatch(message);
  });

  test('refuses two IPv6 <private> elements, a missing <upstream>, and mode on the IPv4 element', () => {
    const twice = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', ipv6: {} }).replace('<natns:private address="fd00::1"', '<natns:private address="fd01::1" prefix="64"/><natns:private address="fd00::1"');
    expect(() => readNetwork(child(parseXml(twice, 't'), 'network')!)).toThrow(/<private> appears 2 times for IPv6; give one per family/);
    const one = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', ipv6: {} }).replace('<natns:upstream pool="default6"/>', '');
    expect(() => readNetwork(child(parseXml(one, 't'), 'network')!)).toThrow(/there are 2 <private> and 1 <upstream> elements; give one <upstream> per <private>, in the same order/);
    expect(refusal({ upstream: '<natns:upstream pool="default" mode="nptv6"/>' })).toMatch(/<upstream mode> applies to the IPv6 <upstream> only/);
  });
});

describe('IPv6 pools', () => {
  const pool6 = { bridge: 'br0', subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff' };
  const parse = (p: object) => parseConfig(JSON.stringify({ pools: { p: p } }), 'config.json').pools.get('p')!;

  test('read like IPv4 ones (the documented example)', () => {
    expect(parse(pool6)).toEqual({ name: 'p', bridge: 'br0', subnet: { address: '2001:db8:100::', prefix: 64 }, gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff', hostAccess: 'deny' });
  });

  test('a prefix pool hands out /64s of its subnet, all of them unless first/last say otherwise', () => {
    expect(parse({ bridge: 'br0', subnet: '2001:db8:200::/56', prefixLength: 64, gateway: 'fe80::1' }))
      .toMatchObject({ prefixLength: 64, first: '2001:db8:200::', last: '2001:db8:200:ff::', gateway: 'fe80::1' });
  });

  test.each([
    ['an IPv4 gateway in an IPv6 pool', { ...pool6, gateway: '198.51.100.1' }, /gateway: '198.51.100.1' is not an IPv6 address/],
    ['an IPv6 first in an IPv4 pool', { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '2001:db8::1', last: '198.51.100.9' }, /first: '2001:db8::1' is not an IPv4 address/],
    ['a link-local subnet', { ...pool6, subnet: 'fe80::/64', gateway: 'fe80::1', first: 'fe80::100', last: 'fe80::1ff' }, /subnet fe80::\/64 is a link-local address/],
    ['the subnet-router anycast address in the range', { ...pool6, first: '2001:db8:100::' }, /includes the subnet-router anycast address/],
    ['prefixLength on an IPv4 pool', { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.2', last: '198.51.100.9', prefixLength: 28 }, /"prefixLength" is for IPv6 pools/],
    ['a misaligned prefix', { bridge: 'br0', subnet: '2001:db8:200::/56', prefixLength: 64, gateway: 'fe80::1', first: '2001:db8:200::1' }, /first 2001:db8:200::1 is not the start of a \/64/],
    ['a gateway inside the routed subnet', { bridge: 'br0', subnet: '2001:db8:200::/56', prefixLength: 64, gateway: '2001:db8:200::1' }, /lies inside the routed subnet/],
  ])('refuse %s', (_what, p, message) => {
    expect(() => parse(p)).toThrow(message);
  });
});

test("a router's link-local address is the modified EUI-64 of its MAC", () => {
  expect(linkLocalFromMac('02:ab:cd:ef:01:23')).toBe('fe80::ab:cdff:feef:123');
  expect(linkLocalFromMac('52:54:00:12:34:56')).toBe('fe80::5054:ff:fe12:3456');
});

describe('dual-stack plan', () => {
  const base: RouterInput = {
    network: { name: 'tenant-a', uuid: UUID, bridge: 'virbr10', private: { address: '10.0.0.1', prefix: 24 } },
    lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1', pool: 'default' },
    mtu: { lan: 1500, wan: 1500 },
  };
  const dual: RouterInput = {
    ...base,
    network: { ...base.network, private6: { address: 'fd00::1', prefix: 64 } },
    lease6: { bridge: 'br0', address: '2001:db8:100::100', prefix: 64, gateway: '2001:db8:100::1', pool: 'default6', mode: 'nat66' },
    hostAddresses: ['198.51.100.2', '2001:db8:100::2', 'fe80::1'],
  };
  const lanLL = linkLocalFromMac(routerMac(UUID, 'lan'));
  const wanLL = linkLocalFromMac(routerMac(UUID, 'wan'));

  test('an IPv4-only network plans exactly what it did before dual stack: no IPv6 addresses, sysctls or table', () => {
    const plan = planRouter(base);
    expect(plan.nft6).toBeUndefined();
    expect(plan.lan.addresses6).toBeUndefined();
    expect(Object.keys(plan.sysctls).some((k) => k.includes('ipv6'))).toBe(false);
    expect(nftReplaceScript(plan)).not.toContain('ip6');
    // Host IPv6 addresses never reach the IPv4 table.
    expect(planRouter({ ...base, hostAddresses: ['198.51.100.2', '2001:db8:100::2'] }).nft).not.toContain('2001:db8');
  });

  test('from nothing: IPv6 addresses without DAD, stable link-locals, the IPv6 default route and sysctls (golden)', () => {
    const plan = planRouter(dual);
    const c = diffRouter(plan, NOTHING);
    expect(c.ns).toEqual([
      'link set lo up',
      'link set lan addrgenmode none', 'link set lan up', 'addr add 10.0.0.1/24 dev lan',
      'addr add fd00::1/64 dev lan nodad', `addr add ${lanLL}/64 dev lan nodad`,
      'link set wan addrgenmode none', 'link set wan up', 'addr add 198.51.100.101/24 dev wan',
      'addr add 2001:db8:100::100/64 dev wan nodad', `addr add ${wanLL}/64 dev wan nodad`,
      'route replace default via 198.51.100.1 dev wan',
      'route replace default via 2001:db8:100::1 dev wan',
    ]);
    expect(c.sysctls).toEqual({
      'net.ipv4.ip_forward': '1',
      'net.ipv4.neigh.wan.proxy_delay': '0', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.lan.rp_filter': '0',
      'net.ipv6.conf.all.forwarding': '1', 'net.ipv6.conf.wan.proxy_ndp': '1',
      'net.ipv6.neigh.wan.proxy_delay': '0',
      'net.ipv6.conf.lan.disable_ipv6': '0', 'net.ipv6.conf.lan.accept_ra': '0', 'net.ipv6.conf.lan.accept_dad': '0',
      'net.ipv6.conf.wan.disable_ipv6': '0', 'net.ipv6.conf.wan.accept_ra': '0', 'net.ipv6.conf.wan.accept_dad': '0',
    });
    // The IPv4 table is the IPv4-only network's, but for the host's IPv4 address it guards.
    expect(plan.nft).toBe(planRouter({ ...base, hostAddresses: ['198.51.100.2'] }).nft);
  });

  test('the ip6 table: anti-spoofing both sides, ND and PMTU allowed, router advertisements dropped, NAT66 (golden)', () => {
    expect(nftReplaceScript(planRouter(dual)).split('delete table ip6 natns\n')[1]).toBe(`table ip6 natns {
\tcomment "natns router for network tenant-a (${UUID})"
\tchain raw {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "wan" ip6 saddr fd00::/64 drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip6 saddr 2001:db8:100::100 drop comment "natns:antispoof-wan"
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept comment "natns:established"
\t\tiifname "lo" accept comment "natns:lo"
\t\ticmpv6 type { nd-router-advert, nd-redirect } drop comment "natns:ra-guard"
\t\tmeta l4proto ipv6-icmp accept comment "natns:icmp"
\t\tiifname "lan" udp dport 547 accept comment "natns:dhcp"
\t\tiifname "lan" udp dport 53 accept comment "natns:dns"
\t\tiifname "lan" tcp dport 53 accept comment "natns:dns"
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t\tiifname "lan" ip6 daddr 2001:db8:100::2 drop comment "natns:host"
\t\tct state established,related accept comment "natns:established"
\t\tiifname "lan" ip6 saddr != fd00::/64 drop comment "natns:antispoof"
\t\tiifname "lan" oifname "wan" ip6 saddr fd00::/64 accept comment "natns:outbound"
\t}

\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "wan" ip6 saddr fd00::/64 snat to 2001:db8:100::100 comment "natns:snat"
\t}

\tchain count {
\t\ttype filter hook forward priority filter - 1; policy accept;
\t\tiifname "lan" oifname "wan" counter comment "natns:count-out"
\t\tiifname "wan" oifname "lan" counter comment "natns:count-in"
\t}
}
`);
  });

  test('an observed dual-stack router built to plan has no differences; IPv6 drift is named', () => {
    const plan = planRouter(dual);
    const addr = (family: string, cidr: string) => ({ family, local: cidr.split('/')[0]!, prefixlen: Number(cidr.split('/')[1]) });
    const veth = (ifindex: number, ifname: string, peer: number, extra: object) => ({ ifindex, ifname, link_index: peer, flags: ['UP'], linkinfo: { info_kind: 'veth' }, ...extra });
    const observed = (): ObservedRouter => ({
      namespace: true, lowers: {}, fdb: [],
      host: { [plan.lan.host]: veth(20, plan.lan.host, 2, { master: 'virbr10', mtu: 1500 }), [plan.wan.host]: veth(21, plan.wan.host, 3, { master: 'br0', mtu: 1500 }) },
      ns: [
        { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'] },
        veth(2, 'lan', 20, { mtu: 1500, address: plan.lan.mac, addr_info: [addr('inet', '10.0.0.1/24'), ...plan.lan.addresses6!.map((a) => addr('inet6', a))] }),
        veth(3, 'wan', 21, { mtu: 1500, address: plan.wan.mac, addr_info: [addr('inet', '198.51.100.101/24'), ...plan.wan.addresses6!.map((a) => addr('inet6', a))] }),
      ],
      routes: [
        { dst: 'default', gateway: '198.51.100.1', dev: 'wan' }, { dst: 'default', gateway: '2001:db8:100::1', dev: 'wan', protocol: 'boot' },
        { dst: 'fd00::/64', dev: 'lan', protocol: 'kernel' },
      ],
      tableRoutes: [], proxyNeighbors: [], rules: [], sysctls: { ...plan.sysctls }, hostSettings: { ...plan.hostSettings }, nft: plan.nft, nft6: plan.nft6!,
    });
    expect(diffRouter(plan, observed()).differences).toEqual([]);
    const o = observed();
    o.ns[2]!.addr_info = o.ns[2]!.addr_info!.filter((a) => a.local !== '2001:db8:100::100').concat(addr('inet6', '2001:db8:100::abcd/64'));
    o.routes.push({ dst: 'default', gateway: 'fe80::99', dev: 'wan', protocol: 'ra' });
    o.sysctls['net.ipv6.conf.wan.accept_ra'] = '1';
    o.nft6 = undefined;
    const c = diffRouter(plan, o);
    expect(c.differences).toEqual([
      'wan holds 2001:db8:100::abcd/64, which the plan does not', 'wan lacks 2001:db8:100::100/64',
      'route default via fe80::99 dev wan is not in the plan',
      'sysctl net.ipv6.conf.wan.accept_ra is 1, want 0',
      'nft table ip6 natns is missing',
    ]);
    // Routes go before addresses: removing an address takes the routes through it along.
    expect(c.ns).toEqual(['route del default via fe80::99 dev wan', 'addr del 2001:db8:100::abcd/64 dev wan', 'addr add 2001:db8:100::100/64 dev wan nodad']);
  });
});

describe('IPv6 leases through the same Ipam', () => {
  let dir: string;
  const config = parseConfig(JSON.stringify({
    pools: {
      v4: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.102' },
      v6: { bridge: 'br0', subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff' },
      npt: { bridge: 'br0', subnet: '2001:db8:200::/63', prefixLength: 64, gateway: 'fe80::1' },
    },
  }), 'test');
  const owner = (n: number) => ({ uuid: `00000000-0000-4000-8000-00000000000${n}`, name: `net${n}` });
  const ipam = () => new FileIpam(new FileLeaseStore(join(dir, 'leases')), join(dir, 'locks'), () => config);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'natns-ipam6-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('one owner holds an address of each family on one bridge, and finds both again without its record', async () => {
    const a4 = await ipam().claim({ kind: 'pool', pool: 'v4' }, owner(1));
    const a6 = await ipam().claim({ kind: 'pool', pool: 'v6' }, owner(1));
    expect([a4.address, a6]).toEqual(['198.51.100.100', { bridge: 'br0', address: '2001:db8:100::100', prefix: 64, gateway: '2001:db8:100::1', pool: 'v6' }]);
    // No previous lease given (a lost record): the owner index of each family finds its address.
    expect((await ipam().claim({ kind: 'pool', pool: 'v4' }, owner(1))).address).toBe('198.51.100.100');
    expect((await ipam().claim({ kind: 'pool', pool: 'v6' }, owner(1))).address).toBe('2001:db8:100::100');
    await ipam().release(a6, owner(1).uuid);
    expect((await ipam().claim({ kind: 'pool', pool: 'v4' }, owner(1))).address).toBe('198.51.100.100');
    expect((await ipam().leases()).map((l) => l.address)).toEqual(['198.51.100.100']);
  });

  test('a prefix pool hands out whole /64s, the lowest free first, and says when they are gone', async () => {
    const p1 = await ipam().claim({ kind: 'pool', pool: 'npt' }, owner(1));
    const p2 = await ipam().claim({ kind: 'pool', pool: 'npt' }, owner(2));
    expect([p1, p2].map((p) => `${p.address}/${p.prefix}`)).toEqual(['2001:db8:200::/64', '2001:db8:200:1::/64']);
    await expect(ipam().claim({ kind: 'pool', pool: 'npt' }, owner(3))).rejects.toThrow(/pool 'npt' is exhausted: all 2 \/64 prefixes 2001:db8:200::-2001:db8:200:1:: are leased/);
  });
});

describe('dual-stack guests and dnsmasq', () => {
  const readGuest = (metadata: string) =>
    readDomain(child(parseXml(domainXml({ name: 'web1', uuid: UUID, network: 'priv0', mac: '52:54:00:AA:BB:CC', metadata }), 't'), 'domain')!);

  test('a guest names one address per family on a network; a forward needs either', () => {
    const g = readGuest('<natns:address network="priv0" ip="10.0.0.100"/><natns:address network="priv0" ip="FD00::0100"/><natns:forward network="priv0" port="80"/>');
    expect(g.spec!.networks).toEqual([{ network: 'priv0', mac: '52:54:00:aa:bb:cc', ip: '10.0.0.100', ip6: 'fd00::100', forwards: [{ proto: 'tcp', port: 80, toPort: 80 }] }]);
    expect(readGuest('<natns:address network="priv0" ip="fd00::100"/><natns:forward network="priv0" port="80"/>').spec!.networks[0]).toMatchObject({ ip6: 'fd00::100' });
    expect(() => readGuest('<natns:address network="priv0" ip="fd00::100"/><natns:address network="priv0" ip="fd00::101"/>')).toThrow(/two IPv6 <address> elements for network priv0/);
    expect(() => readGuest('<natns:address network="priv0" ip="fd00::1::2"/>')).toThrow(/is not an IPv6 address/);
  });

  test('dnsmasq advertises the /64 for SLAAC, serves DHCPv6 reservations only, and DNS on the IPv6 gateway (golden)', () => {
    const plan = planDhcp({
      network: 'tenant-a', namespace: 'natns-tenant-a', dir: '/d',
      private: { address: '10.0.0.1', prefix: 24 }, range: { start: '10.0.0.100', end: '10.0.0.199' }, private6: { address: 'fd00::1', prefix: 64 },
      reservations: [{ mac: '52:54:00:00:00:02', ip6: 'fd00::20' }, { mac: '52:54:00:00:00:01', ip: '10.0.0.10', ip6: 'fd00::10' }, { mac: '52:54:00:00:00:03', ip: '10.0.0.30' }],
    });
    expect(plan.conf).toBe(`# natns: DHCP and DNS for network tenant-a in namespace natns-tenant-a (generated; edits are overwritten)
interface=lan
except-interface=lo
bind-dynamic
listen-address=10.0.0.1
dhcp-range=10.0.0.100,10.0.0.199,255.255.255.0,1h
dhcp-option=option:router,10.0.0.1
dhcp-option=option:dns-server,10.0.0.1
listen-address=fd00::1
enable-ra
dhcp-range=fd00::,static,slaac,64,1h
dhcp-option=option6:dns-server,[fd00::1]
dhcp-authoritative
no-hosts
dhcp-leasefile=/d/leases
dhcp-hostsfile=/d/hosts
pid-file=/d/dnsmasq.pid
user=nobody
group=nogroup
`);
    expect(plan.hosts).toBe('52:54:00:00:00:01,10.0.0.10,[fd00::10]\n52:54:00:00:00:02,[fd00::20]\n52:54:00:00:00:03,10.0.0.30\n');
    // Without <natns:dhcp>, a dual-stack network's dnsmasq does IPv6 only.
    const v6only = planDhcp({ network: 'n', namespace: 'natns-n', dir: '/d', private: { address: '10.0.0.1', prefix: 24 }, private6: { address: 'fd00::1', prefix: 64 }, reservations: [] });
    expect(v6only.conf).not.toContain('10.0.0.1');
    expect(v6only.conf).toContain('enable-ra\n');
  });
});

test('a dual-stack router with a transparent proxy gets the IPv6 fwmark rule and local route, in a batch of their own (ip -6)', () => {
  const plan = planRouter({
    network: { name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 }, private6: { address: 'fd00::1', prefix: 64 }, tproxy: { proto: 'tcp', ports: [80], toPort: 3128, mark: 1, table: 100 } },
    lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
    lease6: { bridge: 'br0', address: '2001:db8:100::100', prefix: 64, gateway: '2001:db8:100::1', mode: 'nat66' },
    mtu: { lan: 1500, wan: 1500 },
  });
  const c = diffRouter(plan, NOTHING);
  expect(c.ns.slice(-2)).toEqual(['rule add fwmark 0x1 lookup 100', 'route replace local 0.0.0.0/0 dev lo table 100']);
  expect(c.ns6).toEqual(['rule add fwmark 0x1 lookup 100', 'route replace local ::/0 dev lo table 100']);
  expect(plan.nft6).toContain('\t\tiifname "lan" tcp dport 80 tproxy to :3128 meta mark set 0x00000001 accept comment "natns:tproxy"\n');
  // An IPv4-only one does not.
  expect(diffRouter(planRouter({ network: { name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 }, tproxy: { proto: 'tcp', ports: [80], toPort: 3128, mark: 1, table: 100 } }, lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' }, mtu: { lan: 1500, wan: 1500 } }), NOTHING).ns6).toEqual([]);
});

describe('IPv6-only networks', () => {
  const xml = (extra = '') => networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1' })
    .replace('<natns:private address="10.0.0.1" prefix="24"/>', '<natns:private address="fd00::1" prefix="64"/>')
    .replace('<natns:upstream pool="default"/>', `<natns:upstream pool="default6"/>${extra}`);
  const spec = (extra = '') => readNetwork(child(parseXml(xml(extra), 't'), 'network')!).spec!;

  test('one IPv6 <private> and its <upstream>: no IPv4 keys at all', () => {
    const s = spec();
    expect(s).toMatchObject({ private6: { address: 'fd00::1', prefix: 64 }, upstream6: { kind: 'pool', pool: 'default6', mode: 'nat66' } });
    expect(Object.keys(s)).not.toContain('private');
    expect(Object.keys(s)).not.toContain('upstream');
  });

  test('IPv4 DHCP is refused, in one line', () => {
    expect(() => spec('<natns:dhcp start="10.0.0.100" end="10.0.0.199"/>')).toThrow(/<dhcp> hands out IPv4 addresses, but the network has no IPv4 <private>/);
  });

  test('its router has IPv6 only: no IPv4 address, route, sysctl or table; the ip table is deleted in the same transaction (golden)', () => {
    const plan = planRouter({
      network: { name: 'v6', uuid: UUID, bridge: 'virbr1', private6: { address: 'fd00::1', prefix: 64 } },
      lease6: { bridge: 'br0', address: '2001:db8:100::100', prefix: 64, gateway: '2001:db8:100::1', mode: 'nat66' },
      mtu: { lan: 1500, wan: 1500 },
    });
    expect(plan.nft).toBeUndefined();
    expect(plan.wan.master).toBe('br0');
    const c = diffRouter(plan, NOTHING);
    expect(c.ns).toEqual([
      'link set lo up',
      'link set lan addrgenmode none', 'link set lan up', 'addr add fd00::1/64 dev lan nodad', `addr add ${linkLocalFromMac(routerMac(UUID, 'lan'))}/64 dev lan nodad`,
      'link set wan addrgenmode none', 'link set wan up', 'addr add 2001:db8:100::100/64 dev wan nodad', `addr add ${linkLocalFromMac(routerMac(UUID, 'wan'))}/64 dev wan nodad`,
      'route replace default via 2001:db8:100::1 dev wan',
    ]);
    expect(Object.keys(c.sysctls).filter((k) => k.startsWith('net.ipv4'))).toEqual([]);
    expect(nftReplaceScript(plan).startsWith('table ip natns\ndelete table ip natns\ntable ip6 natns\ndelete table ip6 natns\ntable ip6 natns {\n')).toBe(true);
  });
});
