import { diffRouter, type RouterChanges } from '../../src/plan/diff.js';
import { NOTHING, type ObservedRouter } from '../../src/plan/observed.js';
import { deviceTag, hostDeviceNames, namespaceName, routerMac } from '../../src/domain/names.js';
import { nftReplaceScript, planRouter, type RouterInput } from '../../src/plan/router.js';

const UUID = '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10';

const input: RouterInput = {
  network: { name: 'tenant-a', uuid: UUID, bridge: 'virbr10', private: { address: '10.0.0.1', prefix: 24 } },
  lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1', pool: 'default' },
  mtu: { lan: 1500, wan: 9000 },
};

describe('names', () => {
  test('device names fit IFNAMSIZ, are stable and differ per network', () => {
    const a = hostDeviceNames(UUID);
    expect(a).toEqual(hostDeviceNames(UUID.toUpperCase()));
    for (const n of Object.values(a)) expect(n.length).toBeLessThanOrEqual(15);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(deviceTag(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`));
    expect(seen.size).toBe(5000);
  });

  test('the namespace is named after the network', () => {
    expect(namespaceName('tenant-a')).toBe('natns-tenant-a');
  });
});

describe('plan', () => {
  const plan = planRouter(input);

  test('wires the two veth patches', () => {
    expect(plan.lan).toEqual({ kind: 'veth', host: hostDeviceNames(UUID).lan, peer: 'lan', master: 'virbr10', mtu: 1500, address: '10.0.0.1/24', mac: routerMac(UUID, 'lan') });
    expect(plan.wan).toEqual({ kind: 'veth', host: hostDeviceNames(UUID).wan, peer: 'wan', master: 'br0', mtu: 9000, address: '198.51.100.101/24', mac: routerMac(UUID, 'wan') });
    expect(plan.lan.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(plan.lan.mac).not.toBe(plan.wan.mac);
    expect(plan.routes).toEqual([{ dst: 'default', via: '198.51.100.1', dev: 'wan' }]);
    expect(plan.sysctls).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.lan.rp_filter': '0', 'net.ipv4.neigh.wan.proxy_delay': '0' });
  });

  test('renders the nft table exactly (golden)', () => {
    expect(nftReplaceScript(plan)).toBe(`table ip natns
delete table ip natns
table ip natns {
\tcomment "natns router for network tenant-a (${UUID})"
\tchain raw {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "wan" ip saddr 10.0.0.0/24 drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip saddr 198.51.100.101 drop comment "natns:antispoof-wan"
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept comment "natns:established"
\t\tiifname "lo" accept comment "natns:lo"
\t\tip protocol icmp accept comment "natns:icmp"
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t\tct state established,related accept comment "natns:established"
\t\tiifname "lan" ip saddr != 10.0.0.0/24 drop comment "natns:antispoof"
\t\tiifname "lan" oifname "wan" ip saddr 10.0.0.0/24 accept comment "natns:outbound"
\t}

\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "wan" ip saddr 10.0.0.0/24 snat to 198.51.100.101 comment "natns:snat"
\t}

\tchain count {
\t\ttype filter hook forward priority filter - 1; policy accept;
\t\tiifname "lan" oifname "wan" counter comment "natns:count-out"
\t\tiifname "wan" oifname "lan" counter comment "natns:count-in"
\t}
}
`);
  });

  test("the host's own upstream addresses are closed to guests", () => {
    const closed = planRouter({ ...input, hostAddresses: ['198.51.100.9', '198.51.100.2'] });
    // First in the chain: no accept above them, not even for untracked 1:1 traffic.
    expect(closed.nft).toContain('policy drop;\n\t\tiifname "lan" ip daddr 198.51.100.2 drop comment "natns:host"\n\t\tiifname "lan" ip daddr 198.51.100.9 drop comment "natns:host"\n\t\tct state established,related accept');
  });

  test('from nothing: one host batch that creates the peers inside the namespace, one namespace batch (golden)', () => {
    const c = diffRouter(plan, NOTHING);
    const { lan, wan } = hostDeviceNames(UUID);
    expect(c.conflicts).toEqual([]);
    expect(c.nsFirst).toEqual([]);
    expect(c.host).toEqual([
      'netns add natns-tenant-a',
      `link add ${lan} mtu 1500 master virbr10 type veth peer name lan address ${plan.lan.mac} mtu 1500 netns natns-tenant-a`,
      `link set ${lan} addrgenmode none`, `link set ${lan} up`,
      `link add ${wan} mtu 9000 master br0 type veth peer name wan address ${plan.wan.mac} mtu 9000 netns natns-tenant-a`,
      `link set ${wan} addrgenmode none`, `link set ${wan} up`,
    ]);
    expect(c.ns).toEqual([
      'link set lo up',
      'link set lan addrgenmode none', 'link set lan up', 'addr add 10.0.0.1/24 dev lan',
      'link set wan addrgenmode none', 'link set wan up', 'addr add 198.51.100.101/24 dev wan',
      'route replace default via 198.51.100.1 dev wan',
    ]);
    expect(c.sysctls).toEqual(plan.sysctls);
    // The host goes deaf on the network's bridge, which also stops running STP.
    expect(c.hostSettings).toEqual({
      '/proc/sys/net/ipv4/conf/virbr10/arp_ignore': '8', '/proc/sys/net/ipv4/conf/virbr10/rp_filter': '1',
      '/proc/sys/net/ipv4/conf/virbr10/forwarding': '0', '/proc/sys/net/ipv6/conf/virbr10/disable_ipv6': '1',
      '/sys/class/net/virbr10/bridge/stp_state': '0',
    });
    expect(c.nft).toBe(true);
  });

  test('an observed router that matches the plan gives an empty diff', () => {
    expect(isEmpty(diffRouter(plan, matching(plan)))).toBe(true);
  });

  test('drift is found and repaired piece by piece', () => {
    const o = matching(plan);
    o.host[plan.wan.host]!.master = 'br1';
    o.ns.find((l) => l.ifname === 'lan')!.addr_info = [{ family: 'inet', local: '10.9.9.9', prefixlen: 24 }];
    o.routes = [];
    o.nft = o.nft!.replace('snat to 198.51.100.101', 'snat to 198.51.100.7');
    const c = diffRouter(plan, o);
    expect(c.host).toEqual([`link set ${plan.wan.host} master br0`]);
    expect(c.ns).toEqual(['addr del 10.9.9.9/24 dev lan', 'addr add 10.0.0.1/24 dev lan', 'route replace default via 198.51.100.1 dev wan']);
    expect(c.nft).toBe(true);
    expect(c.differences).toHaveLength(5);
  });

  test('a router device that makes IPv6 link-local addresses is set to make none', () => {
    const o = matching(plan);
    o.host[plan.wan.host]!.inet6_addr_gen_mode = 'eui64';
    o.ns.find((l) => l.ifname === 'lan')!.inet6_addr_gen_mode = 'stable_secret';
    const c = diffRouter(plan, o);
    expect(c.host).toEqual([`link set ${plan.wan.host} addrgenmode none`]);
    expect(c.ns).toEqual(['link set lan addrgenmode none']);
    expect(c.differences).toEqual(['lan makes IPv6 link-local addresses (addrgenmode stable_secret)', `${plan.wan.host} makes IPv6 link-local addresses (addrgenmode eui64)`]);
  });

  test('a device of the wrong kind under our name is a conflict, never deleted', () => {
    const o = matching(plan);
    o.host[plan.lan.host]!.linkinfo = { info_kind: 'dummy' };
    const c = diffRouter(plan, o);
    expect(c.conflicts[0]).toMatch(/exists as a dummy, not as natns's veth/);
    expect(c.host.some((l) => l.includes(`del ${plan.lan.host}`))).toBe(false);
  });

  test('an unpaired veth under our name is recreated', () => {
    const o = matching(plan);
    o.ns = o.ns.filter((l) => l.ifname !== 'wan');
    const c = diffRouter(plan, o);
    expect(c.host).toEqual([`link del ${plan.wan.host}`, expect.stringMatching(`^link add ${plan.wan.host} `), `link set ${plan.wan.host} addrgenmode none`, `link set ${plan.wan.host} up`]);
    expect(c.ns).toEqual(['link set wan addrgenmode none', 'link set wan up', 'addr add 198.51.100.101/24 dev wan', 'route replace default via 198.51.100.1 dev wan']);
  });
});

/** What observeRouter returns for a router built exactly to plan. */
function matching(plan: ReturnType<typeof planRouter>): ObservedRouter {
  const link = (ifindex: number, ifname: string, peer: number, extra: object) => ({
    ifindex, ifname, link_index: peer, flags: ['UP'], linkinfo: { info_kind: 'veth' }, ...extra,
  });
  return {
    namespace: true,
    lowers: {},
    host: {
      [plan.lan.host]: link(20, plan.lan.host, 2, { master: 'virbr10', mtu: 1500 }),
      [plan.wan.host]: link(21, plan.wan.host, 3, { master: 'br0', mtu: 9000 }),
    },
    ns: [
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'] },
      link(2, 'lan', 20, { mtu: 1500, address: plan.lan.mac, addr_info: [{ family: 'inet', local: '10.0.0.1', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] }),
      link(3, 'wan', 21, { mtu: 9000, address: plan.wan.mac, addr_info: [{ family: 'inet', local: '198.51.100.101', prefixlen: 24 }] }),
    ],
    routes: [
      { dst: 'default', gateway: '198.51.100.1', dev: 'wan' },
      { dst: '10.0.0.0/24', dev: 'lan', protocol: 'kernel' },
    ],
    tableRoutes: [],
    proxyNeighbors: [],
    rules: [{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }],
    sysctls: { ...plan.sysctls },
    hostSettings: { ...plan.hostSettings },
    nft: plan.nft,
    fdb: [],
  };
}

describe('macvlan patches', () => {
  const plan = planRouter({ ...input, network: { ...input.network, patch: 'macvlan' } });
  const macvlan = (ifindex: number, ifname: string, lower: number, address: string, mtu: number, cidr: string) => ({
    ifindex, ifname, link_index: lower, link_netnsid: 0, flags: ['UP'], mtu, address,
    linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } },
    addr_info: [{ family: 'inet', local: cidr.split('/')[0]!, prefixlen: Number(cidr.split('/')[1]) }],
  });
  const built = (): ObservedRouter => ({
    ...matching(planRouter(input)),
    host: {},
    lowers: { virbr10: 7, br0: 8 },
    ns: [
      { ifindex: 1, ifname: 'lo', flags: ['UP', 'LOOPBACK'] },
      macvlan(2, 'lan', 7, plan.lan.mac, 1500, '10.0.0.1/24'),
      macvlan(3, 'wan', 8, plan.wan.mac, 9000, '198.51.100.101/24'),
    ],
  });

  test('are created in the host, on the bridges, straight into the namespace, with no host-side device', () => {
    const c = diffRouter(plan, NOTHING);
    expect(c.host).toEqual([
      'netns add natns-tenant-a',
      `link add link virbr10 name lan mtu 1500 address ${plan.lan.mac} netns natns-tenant-a type macvlan mode bridge`,
      `link add link br0 name wan mtu 9000 address ${plan.wan.mac} netns natns-tenant-a type macvlan mode bridge`,
    ]);
    expect(c.host.join('\n')).not.toContain(plan.lan.host);
  });

  test('a router built to plan has no differences', () => {
    expect(diffRouter(plan, built()).differences).toEqual([]);
  });

  test('a macvlan on the wrong lower, or a veth left from the other patch kind, is replaced', () => {
    const o = built();
    o.ns[2] = { ...o.ns[2]!, link_index: 99 };
    o.host = { [plan.lan.host]: { ifindex: 20, ifname: plan.lan.host, link_index: 2, linkinfo: { info_kind: 'veth' } } };
    const c = diffRouter(plan, o);
    expect(c.nsFirst).toEqual(['link del wan']);
    expect(c.host).toEqual([`link del ${plan.lan.host}`, expect.stringMatching(/^link add link br0 name wan .* type macvlan mode bridge$/)]);
    expect(c.differences).toEqual([`${plan.lan.host} is left from a veth patch`, 'wan in natns-tenant-a is not a macvlan of br0']);
  });
});

function isEmpty(c: RouterChanges): boolean {
  return c.conflicts.length === 0 && c.differences.length === 0;
}

test('the input chain opens DHCP and DNS to the guests only with DHCP, the proxy to the guests, and what the admin names (golden)', () => {
  const plan = planRouter({
    ...input,
    network: {
      ...input.network, dhcp: { start: '10.0.0.100', end: '10.0.0.199' },
      tproxy: { proto: 'tcp', ports: [80], toPort: 3128, mark: 1, table: 100 },
      inputs: [{ proto: 'tcp', ports: [22, 8080], from: 'wan' }, { proto: 'udp', ports: [161], from: 'any' }],
    },
  });
  expect(plan.nft).toContain(`\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept comment "natns:established"
\t\tiifname "lo" accept comment "natns:lo"
\t\tip protocol icmp accept comment "natns:icmp"
\t\tiifname "lan" udp dport 67 accept comment "natns:dhcp"
\t\tiifname "lan" udp dport 53 accept comment "natns:dns"
\t\tiifname "lan" tcp dport 53 accept comment "natns:dns"
\t\tiifname "lan" meta mark 0x00000001 accept comment "natns:tproxy"
\t\tiifname "lan" tcp dport 3128 accept comment "natns:tproxy"
\t\tiifname "wan" tcp dport { 22, 8080 } accept comment "natns:input"
\t\tudp dport 161 accept comment "natns:input"
\t}
`);
});

test('a host that answers on the bridge is drift; a setting the kernel lacks (IPv6 off at boot) is not', () => {
  const plan = planRouter(input);
  const o = matching(plan);
  o.hostSettings['/proc/sys/net/ipv4/conf/virbr10/arp_ignore'] = '0';
  o.hostSettings['/proc/sys/net/ipv6/conf/virbr10/disable_ipv6'] = 'unsupported';
  const c = diffRouter(plan, o);
  expect(c.differences).toEqual(['/proc/sys/net/ipv4/conf/virbr10/arp_ignore is 0, want 8']);
  expect(c.hostSettings).toEqual({ '/proc/sys/net/ipv4/conf/virbr10/arp_ignore': '8' });
});
