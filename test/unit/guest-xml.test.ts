import { readDomain } from '../../src/libvirt/domain-xml.js';
import { child, parseXml } from '../../src/libvirt/xml.js';
import { parseLeases, planDhcp } from '../../src/plan/dnsmasq.js';
import { planRouter } from '../../src/plan/router.js';
import { unwrapElements } from '../../src/plan/nft-text.js';
import { domainXml } from '../helpers/hooknet.js';

const UUID = '0d6f6a1e-5d8b-4b8e-9a51-2f0a4e3c7b21';
const read = (metadata: string, network = 'priv0') =>
  readDomain(child(parseXml(domainXml({ name: 'web1', uuid: UUID, network, mac: '52:54:00:AA:BB:CC', metadata }), 't'), 'domain')!);

describe('guest metadata', () => {
  test('reads reservations and forwards, with the MAC of the guest on that network', () => {
    const g = read('<natns:address network="priv0" ip="10.0.0.100"/><natns:forward network="priv0" proto="tcp" port="8080" to-port="80"/><natns:forward network="priv0" proto="udp" port="53"/>');
    expect(g.spec).toEqual({
      name: 'web1', uuid: UUID,
      networks: [{ network: 'priv0', mac: '52:54:00:aa:bb:cc', ip: '10.0.0.100', forwards: [{ proto: 'tcp', port: 8080, toPort: 80 }, { proto: 'udp', port: 53, toPort: 53 }] }],
    });
  });

  test('a guest without natns metadata is left alone', () => {
    const g = readDomain(child(parseXml('<domain><name>x</name><uuid>u</uuid></domain>', 't'), 'domain')!);
    expect(g.spec).toBeUndefined();
  });

  test.each([
    ['a network the guest has no interface on', '<natns:address network="other" ip="10.0.0.5"/>', /no interface with a MAC address on network other/],
    ['a forward without an address', '<natns:forward network="priv0" port="80"/>', /need the guest's address there/],
    ['a duplicate forward', '<natns:address network="priv0" ip="10.0.0.5"/><natns:forward network="priv0" port="80"/><natns:forward network="priv0" port="80" to-port="81"/>', /forwarded twice/],
    ['port 0', '<natns:address network="priv0" ip="10.0.0.5"/><natns:forward network="priv0" port="0"/>', /not a port number/],
    ['proto sctp', '<natns:address network="priv0" ip="10.0.0.5"/><natns:forward network="priv0" proto="sctp" port="80"/>', /proto must be tcp or udp/],
    ['a bad address', '<natns:address network="priv0" ip="10.0.0"/>', /not an IPv4 address/],
  ])('refuses %s', (_what, metadata, message) => {
    expect(() => read(metadata)).toThrow(message);
  });
});

describe('dnsmasq plan', () => {
  test('binds the private side only and renders reservations (golden)', () => {
    const plan = planDhcp({
      network: 'tenant-a', namespace: 'natns-tenant-a', dir: '/var/lib/natns/dhcp/u',
      private: { address: '10.0.0.1', prefix: 24 }, range: { start: '10.0.0.100', end: '10.0.0.199' },
      reservations: [{ mac: '52:54:00:00:00:02', ip: '10.0.0.20' }, { mac: '52:54:00:00:00:01', ip: '10.0.0.10' }],
    });
    expect(plan.conf).toBe(`# natns: DHCP and DNS for network tenant-a in namespace natns-tenant-a (generated; edits are overwritten)
interface=lan
except-interface=lo
bind-dynamic
listen-address=10.0.0.1
dhcp-range=10.0.0.100,10.0.0.199,255.255.255.0,1h
dhcp-option=option:router,10.0.0.1
dhcp-option=option:dns-server,10.0.0.1
dhcp-authoritative
no-hosts
dhcp-leasefile=/var/lib/natns/dhcp/u/leases
dhcp-hostsfile=/var/lib/natns/dhcp/u/hosts
pid-file=/var/lib/natns/dhcp/u/dnsmasq.pid
user=nobody
group=nogroup
`);
    expect(plan.hosts).toBe('52:54:00:00:00:01,10.0.0.10\n52:54:00:00:00:02,10.0.0.20\n');
  });

  test('reads a leases file', () => {
    expect(parseLeases('1700000000 52:54:00:AA:00:01 10.0.0.150 host1 *\n\n')).toEqual(new Map([['52:54:00:aa:00:01', '10.0.0.150']]));
  });
});

describe('forwards in the nft table', () => {
  test('DNAT per published port, forwarded traffic accepted, hairpin SNAT to the gateway (golden)', () => {
    const plan = planRouter({
      network: { name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 } },
      lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
      mtu: { lan: 1500, wan: 1500 },
      forwards: [
        { owner: 'admin', proto: 'udp', port: 53, to: '10.0.0.5', toPort: 53 },
        { owner: `guest-${UUID}`, proto: 'tcp', port: 8080, to: '10.0.0.100', toPort: 80 },
      ],
    });
    expect(plan.nft).toBe(`table ip natns {
\tcomment "natns router for network n (${UUID})"
\tchain raw {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "wan" ip saddr 10.0.0.0/24 drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip saddr 198.51.100.101 drop comment "natns:antispoof-wan"
\t}

\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr 198.51.100.101 tcp dport 8080 dnat to 10.0.0.100:80 comment "natns:fwd:guest-${UUID}"
\t\tip daddr 198.51.100.101 udp dport 53 dnat to 10.0.0.5:53 comment "natns:fwd:admin"
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
\t\tct status dnat accept comment "natns:forwarded"
\t}

\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "wan" ip saddr 10.0.0.0/24 snat to 198.51.100.101 comment "natns:snat"
\t\toifname "lan" ip saddr 10.0.0.0/24 ct status dnat snat to 10.0.0.1 comment "natns:hairpin"
\t}

\tchain count {
\t\ttype filter hook forward priority filter - 1; policy accept;
\t\tiifname "lan" oifname "wan" counter comment "natns:count-out"
\t\tiifname "wan" oifname "lan" counter comment "natns:count-in"
\t}
}
`);
  });
});

describe('1:1 and transparent proxy', () => {
  test('a public address needs the private one, and takes address or pool', () => {
    expect(read('<natns:address network="priv0" ip="10.0.0.100"/><natns:public network="priv0" pool="default"/>').spec!.networks[0]!.public).toEqual({ pool: 'default' });
    expect(() => read('<natns:public network="priv0" address="198.51.100.150"/>')).toThrow(/needs the guest's private address/);
    expect(() => read('<natns:address network="priv0" ip="10.0.0.100"/><natns:public network="priv0" address="198.51.100.150" pool="p"/>')).toThrow(/either address="..." or pool="..."/);
  });

  test('1:1 guests are two maps sorted by key as numbers, whatever their number; nft\'s wrapped element lines unwrap to the plan', () => {
    const oneToOne = ['198.51.100.160', '198.51.100.9', '198.51.100.150'].map((pub, i) => ({ owner: `g${i}`, private: `10.0.0.${100 + i}`, public: pub }));
    const plan = planRouter({
      network: { name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 } },
      lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
      mtu: { lan: 1500, wan: 1500 }, oneToOne,
    });
    expect(plan.nft).toContain('\t\telements = { 198.51.100.9 : 10.0.0.101, 198.51.100.150 : 10.0.0.102, 198.51.100.160 : 10.0.0.100 }\n');
    expect(plan.nft).toContain('\t\telements = { 10.0.0.100 : 198.51.100.160, 10.0.0.101 : 198.51.100.9, 10.0.0.102 : 198.51.100.150 }\n');
    expect(plan.nft!.match(/natns:1to1"/g)).toHaveLength(3);
    // As nft 1.0.6 lists a long element list.
    const listed = plan.nft!.replace('elements = { 198.51.100.9 : 10.0.0.101, 198.51.100.150 : 10.0.0.102, ',
      'elements = { 198.51.100.9 : 10.0.0.101, 198.51.100.150 : 10.0.0.102,\n\t\t\t     ');
    expect(listed).not.toBe(plan.nft);
    expect(unwrapElements(listed)).toBe(plan.nft);
  });

  test('renders stateless rewriting, proxy ARP route, untracked accept and tproxy (golden)', () => {
    const plan = planRouter({
      network: {
        name: 'n', uuid: UUID, bridge: 'virbr1', private: { address: '10.0.0.1', prefix: 24 },
        tproxy: { proto: 'tcp', ports: [80, 443], toPort: 3128, mark: 1, table: 100 },
      },
      lease: { bridge: 'br0', address: '198.51.100.101', prefix: 24, gateway: '198.51.100.1' },
      mtu: { lan: 1500, wan: 1500 },
      oneToOne: [{ owner: 'guest-x', private: '10.0.0.100', public: '198.51.100.150' }],
    });
    expect(plan.routes).toEqual([
      { dst: 'default', via: '198.51.100.1', dev: 'wan' },
      { dst: '198.51.100.150', via: '10.0.0.100', dev: 'lan' },
    ]);
    expect(plan.proxyNeighbors).toEqual(['198.51.100.150']);
    expect(plan.tproxy).toEqual({ mark: 1, table: 100 });
    expect(plan.nft).toContain(`\tmap one_to_one_in {
\t\ttype ipv4_addr : ipv4_addr
\t\telements = { 198.51.100.150 : 10.0.0.100 }
\t}

\tmap one_to_one_out {
\t\ttype ipv4_addr : ipv4_addr
\t\telements = { 10.0.0.100 : 198.51.100.150 }
\t}

\tchain raw {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "wan" ip saddr 10.0.0.0/24 drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip saddr 198.51.100.101 drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip saddr @one_to_one_in drop comment "natns:antispoof-wan"
\t\tiifname "wan" ip daddr set ip daddr map @one_to_one_in notrack comment "natns:1to1"
\t\tiifname "lan" ip daddr != 10.0.0.0/24 ip daddr != 198.51.100.101 ip saddr set ip saddr map @one_to_one_out notrack comment "natns:1to1"
\t}

\tchain mangle {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname "lan" tcp dport { 80, 443 } tproxy to :3128 meta mark set 0x00000001 accept comment "natns:tproxy"
\t}
`);
    expect(plan.nft).toContain('\t\tct state untracked accept comment "natns:1to1"\n\t\tiifname "lan" ip saddr != 10.0.0.0/24 drop');
  });
});
