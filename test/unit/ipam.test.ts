import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { formatIPv4, parseIPv4 } from '../../src/ipv4.js';
import { lowestFree } from '../../src/ipam/allocator.js';
import { LeaseStore } from '../../src/ipam/leases.js';
import { resolveUpstream } from '../../src/ipam/upstream.js';
import type { UpstreamSpec } from '../../src/libvirt/network-xml.js';

const ip = (s: string) => parseIPv4(s, 't');

describe('allocator', () => {
  test('gives the lowest free address and nothing when full', () => {
    expect(lowestFree(10, 13, new Set([10, 12]))).toBe(11);
    expect(lowestFree(10, 11, new Set([10, 11]))).toBeUndefined();
  });
});

describe('upstream leases', () => {
  let dir: string;
  let leases: LeaseStore;
  const config = parseConfig(JSON.stringify({
    pools: {
      default: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.102' },
      other: { bridge: 'br1', subnet: '203.0.113.0/24', gateway: '203.0.113.1', first: '203.0.113.10', last: '203.0.113.20' },
    },
  }), 'test');
  const pool: UpstreamSpec = { kind: 'pool', pool: 'default' };
  const owner = (n: number) => ({ uuid: `00000000-0000-4000-8000-00000000000${n}`, name: `net${n}` });
  const resolve = (spec: UpstreamSpec, n: number, previous?: Awaited<ReturnType<typeof resolveUpstream>>) =>
    resolveUpstream(spec, owner(n), config, leases, join(dir, 'locks'), previous);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'natns-ipam-'));
    leases = new LeaseStore(join(dir, 'leases'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('hands out the lowest free address, keyed by UUID, stable on repeat', async () => {
    const a = await resolve(pool, 1);
    const b = await resolve(pool, 2);
    expect([formatIPv4(a.address), formatIPv4(b.address)]).toEqual(['198.51.100.100', '198.51.100.101']);
    expect(formatIPv4((await resolve(pool, 1, a)).address)).toBe('198.51.100.100');
    // Even without its record the network finds its own lease again.
    expect(formatIPv4((await resolve(pool, 2)).address)).toBe('198.51.100.101');
    expect(a).toMatchObject({ bridge: 'br0', prefix: 24, pool: 'default' });
    expect(formatIPv4(a.gateway)).toBe('198.51.100.1');
  });

  test('a freed address is reused before higher ones', async () => {
    await resolve(pool, 1);
    const b = await resolve(pool, 2);
    leases.release('br0', ip('198.51.100.100'), owner(1).uuid);
    expect(formatIPv4((await resolve(pool, 3)).address)).toBe('198.51.100.100');
    expect(formatIPv4(b.address)).toBe('198.51.100.101');
  });

  test('an exhausted pool is refused with a clear message', async () => {
    for (const n of [1, 2, 3]) await resolve(pool, n);
    await expect(resolve(pool, 4)).rejects.toThrow(/pool 'default' is exhausted: all 3 addresses 198.51.100.100-198.51.100.102 are leased/);
  });

  test('an unknown pool names the ones that exist', async () => {
    await expect(resolve({ kind: 'pool', pool: 'nope' }, 1)).rejects.toThrow(/pool 'nope' is not defined .*defined: default, other/);
  });

  test('a fixed address held by another network is refused', async () => {
    const fixed: UpstreamSpec = { kind: 'fixed', bridge: 'br0', address: ip('198.51.100.100'), prefix: 24, gateway: ip('198.51.100.1') };
    await resolve(pool, 1);
    await expect(resolve(fixed, 2)).rejects.toThrow(/198.51.100.100 on br0 is already used by 'net1'/);
  });

  test('a fixed address inside a pool range keeps the pool from handing it out', async () => {
    const fixed: UpstreamSpec = { kind: 'fixed', bridge: 'br0', address: ip('198.51.100.100'), prefix: 24, gateway: ip('198.51.100.1') };
    await resolve(fixed, 1);
    expect(formatIPv4((await resolve(pool, 2)).address)).toBe('198.51.100.101');
  });

  test('moving a network to another pool releases its old address', async () => {
    const a = await resolve(pool, 1);
    const b = await resolve({ kind: 'pool', pool: 'other' }, 1, a);
    expect(formatIPv4(b.address)).toBe('203.0.113.10');
    expect(leases.holder('br0', a.address)).toBeUndefined();
  });

  test('concurrent allocations never share an address', async () => {
    const big = parseConfig(JSON.stringify({ pools: { default: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.10', last: '198.51.100.250' } } }), 't');
    const got = await Promise.all(
      Array.from({ length: 30 }, (_, n) => resolveUpstream(pool, { uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `n${n}` }, big, leases, join(dir, 'locks'), undefined)),
    );
    expect(new Set(got.map((u) => u.address)).size).toBe(30);
  });
});
