import { InputError } from '../../src/domain/errors.js';
import { readNetworkHookCall } from '../../src/libvirt/hook-input.js';
import { readNetwork } from '../../src/libvirt/network-xml.js';
import { child, parseXml } from '../../src/libvirt/xml.js';
import { hookData, networkXml } from '../helpers/xml.js';

const UUID = '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10';

function read(xml: string) {
  return readNetwork(child(parseXml(xml, 'test'), 'network')!);
}

function refusal(xml: string): string {
  try {
    read(xml);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('network XML', () => {
  test('reads the natns metadata of a pool network', () => {
    const net = read(networkXml({ name: 'tenant-a', uuid: UUID, bridge: 'virbr10' }));
    expect(net).toMatchObject({ name: 'tenant-a', uuid: UUID, bridge: 'virbr10' });
    expect(net.spec!.private!.address).toBe('10.0.0.1');
    expect(net.spec!.private!.prefix).toBe(24);
    expect(net.spec!.upstream).toEqual({ kind: 'pool', pool: 'default' });
  });

  test('accepts any namespace prefix the admin chose', () => {
    const net = read(networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', natnsPrefix: 'nn', upstream: '<nn:upstream pool="p1"/>' }));
    expect(net.spec!.upstream).toEqual({ kind: 'pool', pool: 'p1' });
  });

  test('reads a fixed upstream address', () => {
    const net = read(networkXml({
      name: 'n', uuid: UUID, bridge: 'virbr1',
      upstream: '<natns:upstream bridge="br0" address="198.51.100.120" prefix="24" gateway="198.51.100.1"/>',
    }));
    const up = net.spec!.upstream!;
    expect(up.kind).toBe('fixed');
    if (up.kind === 'fixed') {
      expect([up.bridge, up.address, up.prefix, up.gateway]).toEqual(['br0', '198.51.100.120', 24, '198.51.100.1']);
    }
  });

  test('a network without natns metadata is left alone, whatever its name', () => {
    const net = read('<network><name>default</name><uuid>x</uuid><forward mode="nat"/><ip address="192.168.122.1"/></network>');
    expect(net.spec).toBeUndefined();
  });

  test('metadata in another namespace URI is not ours', () => {
    const xml = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1' }).replace('urn:natns:network:1', 'urn:other:1');
    expect(read(xml).spec).toBeUndefined();
  });

  test.each([
    ['gateway off-link', '<natns:upstream bridge="br0" address="198.51.100.120" prefix="24" gateway="203.0.113.1"/>', /gateway 203.0.113.1 is not on-link for 198.51.100.120\/24/],
    ['pool and fixed together', '<natns:upstream pool="default" bridge="br0"/>', /either pool/],
    ['nothing', '<natns:upstream/>', /needs pool/],
    ['prefix 33', '<natns:upstream bridge="br0" address="198.51.100.120" prefix="33" gateway="198.51.100.1"/>', /prefix length '33'/],
    ['not an address', '<natns:upstream bridge="br0" address="198.51.100.300" prefix="24" gateway="198.51.100.1"/>', /is not an IPv4 address/],
    ['hostile bridge', '<natns:upstream bridge="br0;reboot" address="198.51.100.2" prefix="24" gateway="198.51.100.1"/>', /not a valid interface name/],
    ['address is the gateway', '<natns:upstream bridge="br0" address="198.51.100.1" prefix="24" gateway="198.51.100.1"/>', /same as its gateway/],
  ])('refuses an upstream with %s', (_what, upstream, message) => {
    expect(refusal(networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream }))).toMatch(message);
  });

  test('refuses overlapping private and upstream subnets', () => {
    const msg = refusal(networkXml({
      name: 'n', uuid: UUID, bridge: 'virbr1', privateAddress: '198.51.100.1', prefix: '25',
      upstream: '<natns:upstream bridge="br0" address="198.51.100.200" prefix="24" gateway="198.51.100.254"/>',
    }));
    expect(msg).toMatch(/overlaps upstream subnet 198.51.100.0\/24/);
  });

  test.each([
    ['a 200-character name', { name: 'a'.repeat(200) }, /cannot be used with natns/],
    ['shell metacharacters in the name', { name: 'x;rm -rf /' }, /cannot be used with natns/],
    ['nft metacharacters in the name', { name: 'a"}b' }, /cannot be used with natns/],
    ['a bad uuid', { uuid: 'not-a-uuid' }, /is not a UUID/],
    ['a bridge name over 15 characters', { bridge: 'virbr1234567890123' }, /not a valid interface name/],
    ['a private prefix of 31', { prefix: '31' }, /from 8 to 30/],
    ['a private network address', { privateAddress: '10.0.0.0' }, /network or broadcast address/],
  ])('refuses %s', (_what, override, message) => {
    expect(refusal(networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', ...override }))).toMatch(message);
  });

  test('refuses a network that also has an <ip> (libvirt would put it on the host)', () => {
    expect(refusal(networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', extra: '<ip address="10.0.0.1" prefix="24"/>' }))).toMatch(/<ip> element/);
  });

  test('refuses a duplicated <private>', () => {
    const xml = networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1' }).replace('<natns:private', '<natns:private address="10.1.0.1" prefix="24"/><natns:private');
    expect(refusal(xml)).toMatch(/appears 2 times/);
  });
});

describe('hook input', () => {
  const xml = hookData(networkXml({ name: 'n1', uuid: UUID, bridge: 'virbr1' }));

  test('reads argv and stdin together', () => {
    const call = readNetworkHookCall(['n1', 'started', 'begin', '-'], xml);
    expect(call.operation).toBe('started');
    expect(call.network.name).toBe('n1');
  });

  test.each([
    ['truncated XML', xml.slice(0, 120), /not well-formed/],
    ['an entity bomb', `<!DOCTYPE x [<!ENTITY a "aaaa">]>${xml}`, /DOCTYPE/],
    ['no hookData', '<other/>', /no <hookData><network>/],
    ['empty input', '', /no <hookData>|not well-formed/],
  ])('refuses %s', (_what, input, message) => {
    expect(() => readNetworkHookCall(['n1', 'start', 'begin', '-'], input)).toThrow(message);
  });

  test('refuses argv that names another network', () => {
    expect(() => readNetworkHookCall(['other', 'start', 'begin', '-'], xml)).toThrow(/names 'n1'/);
  });

  test('a name with a line break in the XML of a network that is not natns\'s is named on one line', () => {
    const broken = '<hookData><network><name>n\n1</name><uuid>x</uuid></network></hookData>';
    expect(() => readNetworkHookCall(['n1', 'start', 'begin', '-'], broken)).toThrow(/^[^\n]*$/);
  });
});

describe('dhcp metadata', () => {
  const withDhcp = (dhcp: string) => networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream: `<natns:upstream pool="default"/>${dhcp}` });
  test('reads a range', () => {
    const net = read(withDhcp('<natns:dhcp start="10.0.0.100" end="10.0.0.199"/>'));
    expect(net.spec!.dhcp).toEqual({ start: '10.0.0.100', end: '10.0.0.199' });
  });
  test.each([
    ['a reversed range', '<natns:dhcp start="10.0.0.199" end="10.0.0.100"/>', /comes after end/],
    ['a range outside the subnet', '<natns:dhcp start="10.0.1.100" end="10.0.1.199"/>', /not a host address of the private subnet 10.0.0.0\/24/],
    ['a range over the gateway', '<natns:dhcp start="10.0.0.1" end="10.0.0.9"/>', /includes the private gateway/],
  ])('refuses %s', (_w, dhcp, message) => {
    expect(refusal(withDhcp(dhcp))).toMatch(message);
  });
});

describe('tproxy metadata', () => {
  const withTproxy = (t: string) => networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream: `<natns:upstream pool="default"/>${t}` });
  test('reads ports, mark and table', () => {
    expect(read(withTproxy('<natns:tproxy proto="tcp" ports="443,80,80" to-port="3128" mark="1" table="100"/>')).spec!.tproxy)
      .toEqual({ proto: 'tcp', ports: [80, 443], toPort: 3128, mark: 1, table: 100 });
  });
  test.each([
    ['the main table', '<natns:tproxy ports="80" to-port="3128" table="254"/>', /kernel's own tables/],
    ['a bad port', '<natns:tproxy ports="80,x" to-port="3128"/>', /not a port number/],
    ['mark 0', '<natns:tproxy ports="80" to-port="3128" mark="0"/>', /from 1 to/],
  ])('refuses %s', (_w, t, message) => {
    expect(refusal(withTproxy(t))).toMatch(message);
  });
});

describe('patch metadata', () => {
  const withPatch = (p: string) => networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream: `<natns:upstream pool="default"/>${p}` });
  test('macvlan is read, veth is the default and is not recorded', () => {
    expect(read(withPatch('<natns:patch type="macvlan"/>')).spec!.patch).toBe('macvlan');
    expect(read(withPatch('<natns:patch type="veth"/>')).spec!.patch).toBeUndefined();
    expect(read(withPatch('')).spec!.patch).toBeUndefined();
  });
  test('an unknown kind is refused by name', () => {
    expect(refusal(withPatch('<natns:patch type="ipvlan"/>'))).toMatch(/<patch type> must be veth or macvlan, not 'ipvlan'/);
  });
});

test('a network that is not natns\'s may have any name libvirt accepts', () => {
  for (const name of ['a name with spaces', 'x'.repeat(80), 'ünïcode']) {
    const net = readNetwork(child(parseXml(`<network><name>${name}</name><uuid>5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10</uuid><bridge name="virbr3"/></network>`, 't'), 'network')!);
    expect(net).toEqual({ name, uuid: '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10', bridge: 'virbr3', spec: undefined });
  }
  // natns's own networks still need a name it can use for namespaces and files.
  expect(() => read(networkXml({ name: 'a name with spaces', uuid: UUID, bridge: 'virbr1' }))).toThrow(/cannot be used with natns/);
});

test('<natns:input> opens services in the namespace, per side; a bad side or port is refused', () => {
  const withInput = (el: string) => networkXml({ name: 'n', uuid: UUID, bridge: 'virbr1', upstream: `<natns:upstream pool="default"/>${el}` });
  expect(read(withInput('<natns:input ports="8080,22,22"/><natns:input proto="udp" ports="161" from="any"/>')).spec!.inputs)
    .toEqual([{ proto: 'tcp', ports: [22, 8080], from: 'lan' }, { proto: 'udp', ports: [161], from: 'any' }]);
  expect(() => read(withInput('<natns:input ports="22" from="everyone"/>'))).toThrow(/<input from> must be lan, wan or any/);
  expect(() => read(withInput('<natns:input ports="0"/>'))).toThrow(/not a port number/);
});
