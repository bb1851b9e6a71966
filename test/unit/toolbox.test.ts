import { fitTable } from '../../src/cli/fit.js';
import { wrap } from '../../src/cli/output.js';
import { hookEvents } from '../../src/core/metrics.js';
import { histogramSamples, renderFamilies } from '../../src/sys/prom-text.js';
import { editNatMetadata, natMetadataText } from '../../src/libvirt/network-edit.js';
import { parseLeaseFile } from '../../src/plan/dnsmasq.js';

const XML = `<network>
  <name>t</name>
  <metadata>
    <n:nat xmlns:n="urn:natns:network:1">
      <n:private address="fd00::1" prefix="64"/>
      <n:private address="10.0.0.1" prefix="24"/>
      <n:upstream pool="default6"/>
      <n:upstream pool="default"/>
      <n:dhcp start="10.0.0.100" end="10.0.0.199"/>
      <n:tproxy proto="tcp" ports="80" to-port="3128"/>
    </n:nat>
  </metadata>
</network>`;

describe('network set edits', () => {
  test('the IPv4 upstream (the one in the IPv4 private\'s position) is replaced; the IPv6 one, any prefix, and other elements stay', () => {
    const out = editNatMetadata(XML, { upstream: 'pool="spare"' });
    expect(out).toContain('<n:upstream pool="default6"/>\n      <n:upstream pool="spare"/>\n      <n:dhcp');
    expect(out).toContain('<n:tproxy');
  });

  test('dhcp is replaced, added or removed; the rest is byte for byte the same', () => {
    const gone = editNatMetadata(XML, { dhcp: null });
    expect(gone).not.toContain('dhcp');
    expect(gone.replace(/\s+/g, '')).toBe(XML.replace(/<n:dhcp[^>]*\/>/, '').replace(/\s+/g, ''));
    const back = editNatMetadata(gone, { dhcp: { start: '10.0.0.5', end: '10.0.0.9' } });
    expect(back).toContain('<n:dhcp start="10.0.0.5" end="10.0.0.9"/>\n    </n:nat>');
    expect(natMetadataText(editNatMetadata(XML, { dhcp: { start: '10.0.0.100', end: '10.0.0.199' } })))
      .not.toBe(natMetadataText(XML)); // moved to the end: a different document, honestly reported as changed
  });

  test('XML without natns metadata is refused', () => {
    expect(() => editNatMetadata('<network><name>x</name></network>', { dhcp: null })).toThrow(/not a natns network/);
    expect(natMetadataText('<network/>')).toBeUndefined();
  });
});

test('dnsmasq leases: IPv4 with MAC, IPv6 after the duid line, unknown fields and infinite leases', () => {
  const text = '1764876000 52:54:00:AA:00:01 10.0.0.100 web1 01:52:54:00:aa:00:01\n0 52:54:00:aa:00:02 10.0.0.101 * *\n' +
    'duid 00:01:00:01:2c:aa:bb:cc:52:54:00:00:00:01\n1764876000 1234 fd00::100 web1 00:03:00:01:52:54:00:aa:00:01\n';
  expect(parseLeaseFile(text)).toEqual([
    { address: '10.0.0.100', mac: '52:54:00:aa:00:01', hostname: 'web1', expires: new Date(1764876000 * 1000).toISOString(), client: '01:52:54:00:aa:00:01' },
    { address: '10.0.0.101', mac: '52:54:00:aa:00:02' },
    { address: 'fd00::100', hostname: 'web1', expires: new Date(1764876000 * 1000).toISOString(), client: '00:03:00:01:52:54:00:aa:00:01' },
  ]);
});

test('wrap keeps lines within the width and indents the rest', () => {
  const out = wrap('FAIL  ', 'a '.repeat(100).trim(), 6);
  expect(out.split('\n').every((l) => l.length <= 80)).toBe(true);
  expect(out.split('\n')[1]).toMatch(/^ {6}a a/);
  expect(wrap('x: ', 'short', 4)).toBe('x: short');
});

test('fitTable shortens the widest shrinkable column until the table fits 80 columns, and leaves a narrow table alone', () => {
  const rows = [['2001:db8:100::1ff', 'network', 'a-very-long-network-name-of-forty-eight-characters-x', 'kvm-a.example.org']];
  const out = fitTable(['ADDRESS', 'KIND', 'OWNER', 'HOST'], rows, [2, 3]);
  expect(out.split('\n').every((l) => l.length <= 80)).toBe(true);
  expect(out).toMatch(/a-very-long-network-name\S*~/);
  expect(out).toContain('2001:db8:100::1ff');
  expect(fitTable(['A', 'B'], [['x', 'y']], [0, 1])).toBe('A  B\n-  -\nx  y\n');
});

describe('metrics', () => {
  test('Prometheus text: HELP and TYPE per family, escaped label values, cumulative histogram buckets with +Inf, sum and count', () => {
    const text = renderFamilies([
      { name: 'natns_x', type: 'gauge', help: 'a\nb', samples: [{ labels: { network: 'a"b\\c\nd' }, value: 1 }] },
      { name: 'natns_h', type: 'histogram', help: 'h', samples: histogramSamples({ event: 'e' }, [0.02, 0.2, 3], [0.05, 1]) },
    ]);
    expect(text).toBe([
      '# HELP natns_x a\\nb', '# TYPE natns_x gauge', 'natns_x{network="a\\"b\\\\c\\nd"} 1',
      '# HELP natns_h h', '# TYPE natns_h histogram',
      'natns_h_bucket{event="e",le="0.05"} 1', 'natns_h_bucket{event="e",le="1"} 2', 'natns_h_bucket{event="e",le="+Inf"} 3',
      'natns_h_sum{event="e"} 3.22', 'natns_h_count{event="e"} 3', '',
    ].join('\n'));
  });

  test('hook events from the log: timed successes, errors by hook and event, guest events as qemu, other lines ignored', () => {
    const log = [
      JSON.stringify({ level: 'info', message: 'network started begin', network: 'a', ms: 61.5 }),
      JSON.stringify({ level: 'info', message: 'network started begin', network: 'b', ms: 40 }),
      JSON.stringify({ level: 'error', message: 'c: upstream pool gone', hook: 'network', network: 'c', event: 'start begin' }),
      JSON.stringify({ level: 'info', message: 'guest start begin', guest: 'g' }),
      JSON.stringify({ level: 'warn', message: 'skipped /x', hook: 'network', event: 'started begin' }),
      'not json', '',
    ].join('\n');
    const e = hookEvents(log);
    expect([...e.counts]).toEqual([
      ['network started begin', { ok: 2, error: 0 }], ['network start begin', { ok: 0, error: 1 }], ['qemu start begin', { ok: 1, error: 0 }],
    ]);
    expect([...e.ok]).toEqual([['network started begin', [0.0615, 0.04]]]);
  });
});
