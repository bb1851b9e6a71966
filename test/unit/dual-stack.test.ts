import { parseConfig } from '../../src/config/config.js';
import { linkLocalFromMac } from '../../src/domain/address.js';
import { InputError } from '../../src/domain/errors.js';
import { readNetwork } from '../../src/libvirt/network-xml.js';
import { child, parseXml } from '../../src/libvirt/xml.js';
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
