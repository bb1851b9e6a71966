import { table } from '../../src/cli/output.js';
import { insideDifferences, mappingState, type NamespaceProbe } from '../../src/plan/quick-state.js';

const router = {
  private: { address: '10.0.0.1', prefix: 24 },
  lease: { address: '198.51.100.101', prefix: 24, bridge: 'br0', gateway: '198.51.100.1' },
};
const whole: NamespaceProbe = {
  links: { lo: false, lan: true, wan: true }, addrs: ['10.0.0.1/24 lan', '198.51.100.101/24 wan'], defaults: ['ipv4'], tables: ['ip natns'],
};

describe('natns list states', () => {
  test('a whole router has no differences', () => {
    expect(insideDifferences(router, whole)).toEqual([]);
  });

  test.each([
    ['the nft table gone', { tables: [] }, 'nft table ip natns is missing'],
    ['the default route gone', { defaults: [] }, 'the IPv4 default route is missing'],
    ['a side down', { links: { lo: false, lan: true, wan: false } }, 'wan is down'],
    ['a side gone', { links: { lo: false, wan: true } }, 'lan is missing'],
    ['the upstream address gone', { addrs: ['10.0.0.1/24 lan'] }, 'address 198.51.100.101/24 on wan is missing'],
  ])('%s is a difference', (_what, change, said) => {
    expect(insideDifferences(router, { ...whole, ...change })).toEqual([said]);
  });

  test('IPv6 addresses compare by value, and NPTv6 holds no address of its prefix', () => {
    const dual = {
      ...router, private6: { address: 'fd00::1', prefix: 64 },
      lease6: { address: '2001:db8:200:1::', prefix: 64, bridge: 'br0', gateway: 'fe80::1', mode: 'nptv6' as const },
    };
    const probe = { ...whole, addrs: [...whole.addrs, 'fd00:0::1/64 lan'], defaults: ['ipv4' as const, 'ipv6' as const], tables: ['ip natns', 'ip6 natns'] };
    expect(insideDifferences(dual, probe)).toEqual([]);
  });

  test.each([
    ['running and whole', { libvirt: 'active', phase: 'running', present: true, namespace: true, differences: [] }, 'up'],
    ['running with a difference', { libvirt: 'active', phase: 'running', present: true, namespace: true, differences: ['x'] }, 'drift'],
    ['libvirt runs it, its namespace is gone', { libvirt: 'active', phase: 'running', present: false, namespace: false, differences: [] }, 'down'],
    ['libvirt runs it, natns never built it', { libvirt: 'active', phase: 'stopped', present: false, namespace: false, differences: [] }, 'down'],
    ['its last start failed', { libvirt: 'inactive', phase: 'failed', present: false, namespace: false, differences: [] }, 'down'],
    ['stopped, nothing left', { libvirt: 'inactive', phase: 'stopped', present: false, namespace: false, differences: [] }, 'stopped'],
    ['stopped with a router left', { libvirt: 'inactive', phase: 'running', present: true, namespace: true, differences: [] }, 'drift'],
    ['no word from libvirt: natns\'s phase decides', { libvirt: 'unknown', phase: 'running', present: true, namespace: true, differences: [] }, 'up'],
    ['no word from libvirt, stopped', { libvirt: 'unknown', phase: 'stopped', present: false, namespace: false, differences: [] }, 'stopped'],
  ] as const)('%s: %s', (_what, facts, state) => {
    expect(mappingState(facts)).toBe(state);
  });
});

describe('tables', () => {
  test('fit the width by shortening the columns they may shorten, widest first, never below their header', () => {
    const rows = [['a-very-long-network-name-indeed-yes', 'virbr10', '10.0.0.1/24', '198.51.100.101/24', 'up']];
    const out = table(['NETWORK', 'BRIDGE', 'PRIVATE', 'UPSTREAM', 'STATE'], rows, { width: 60, shrink: [0] });
    const lines = out.trimEnd().split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBe(60);
    expect(lines[2]).toMatch(/^a-very-long… +virbr10 +10\.0\.0\.1\/24 +198\.51\.100\.101\/24 +up$/);
    expect(table(['NETWORK', 'STATE'], rows.map((r) => [r[0]!, r[4]!]), { width: Infinity }).split('\n')[2]).toBe('a-very-long-network-name-indeed-yes  up');
  });
});
