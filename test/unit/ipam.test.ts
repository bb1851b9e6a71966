import { build } from 'esbuild';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { lowestFree } from '../../src/ipam/allocator.js';
import type { Upstream, UpstreamSpec } from '../../src/domain/model.js';
import { FileIpam } from '../../src/ipam/ipam.js';
import { FileLeaseStore } from '../../src/ipam/leases.js';
import { repoRoot } from '../helpers/sandbox.js';

describe('allocator', () => {
  test('gives the lowest free address and nothing when full', () => {
    expect(lowestFree('10.0.0.10', '10.0.0.13', new Set(['10.0.0.10', '10.0.0.12']))).toBe('10.0.0.11');
    expect(lowestFree('10.0.0.10', '10.0.0.11', new Set(['10.0.0.10', '10.0.0.11']))).toBeUndefined();
    expect(lowestFree('2001:db8::ffff', '2001:db8::1:2', new Set(['2001:db8::ffff']))).toBe('2001:db8::1:0');
  });
});

describe('upstream leases', () => {
  let dir: string;
  let leases: FileLeaseStore;
  const config = parseConfig(JSON.stringify({
    pools: {
      default: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.102' },
      other: { bridge: 'br1', subnet: '203.0.113.0/24', gateway: '203.0.113.1', first: '203.0.113.10', last: '203.0.113.20' },
    },
  }), 'test');
  const pool: UpstreamSpec = { kind: 'pool', pool: 'default' };
  const owner = (n: number) => ({ uuid: `00000000-0000-4000-8000-00000000000${n}`, name: `net${n}` });
  const resolve = (spec: UpstreamSpec, n: number, previous?: Upstream) =>
    new FileIpam(leases, join(dir, 'locks'), () => config).claim(spec, owner(n), previous);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'natns-ipam-'));
    leases = new FileLeaseStore(join(dir, 'leases'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('hands out the lowest free address, keyed by UUID, stable on repeat', async () => {
    const a = await resolve(pool, 1);
    const b = await resolve(pool, 2);
    expect([a.address, b.address]).toEqual(['198.51.100.100', '198.51.100.101']);
    expect((await resolve(pool, 1, a)).address).toBe('198.51.100.100');
    // Even without its record the network finds its own lease again.
    expect((await resolve(pool, 2)).address).toBe('198.51.100.101');
    expect(a).toMatchObject({ bridge: 'br0', prefix: 24, pool: 'default' });
    expect(a.gateway).toBe('198.51.100.1');
  });

  test('a freed address is reused before higher ones', async () => {
    await resolve(pool, 1);
    const b = await resolve(pool, 2);
    leases.release('br0', '198.51.100.100', owner(1).uuid);
    expect((await resolve(pool, 3)).address).toBe('198.51.100.100');
    expect(b.address).toBe('198.51.100.101');
  });

  test('an exhausted pool is refused with a clear message', async () => {
    for (const n of [1, 2, 3]) await resolve(pool, n);
    await expect(resolve(pool, 4)).rejects.toThrow(/pool 'default' is exhausted: all 3 addresses 198.51.100.100-198.51.100.102 are leased/);
  });

  test('an unknown pool names the ones that exist', async () => {
    await expect(resolve({ kind: 'pool', pool: 'nope' }, 1)).rejects.toThrow(/pool 'nope' is not defined .*defined: default, other/);
  });

  test('a fixed address held by another network is refused', async () => {
    const fixed: UpstreamSpec = { kind: 'fixed', bridge: 'br0', address: '198.51.100.100', prefix: 24, gateway: '198.51.100.1' };
    await resolve(pool, 1);
    await expect(resolve(fixed, 2)).rejects.toThrow(/198.51.100.100 on br0 is already used by 'net1'/);
  });

  test('a fixed address inside a pool range keeps the pool from handing it out', async () => {
    const fixed: UpstreamSpec = { kind: 'fixed', bridge: 'br0', address: '198.51.100.100', prefix: 24, gateway: '198.51.100.1' };
    await resolve(fixed, 1);
    expect((await resolve(pool, 2)).address).toBe('198.51.100.101');
  });

  test('moving a network to another pool releases its old address', async () => {
    const a = await resolve(pool, 1);
    const b = await resolve({ kind: 'pool', pool: 'other' }, 1, a);
    expect(b.address).toBe('203.0.113.10');
    expect(leases.holder('br0', a.address)).toBeUndefined();
  });
});

describe('upstream leases across processes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'natns-ipam-race-'));
    await build({
      entryPoints: [join(repoRoot, 'test/helpers/claim.ts')], outfile: join(dir, 'claim.cjs'),
      bundle: true, format: 'cjs', platform: 'node', target: 'node20', logLevel: 'warning',
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { default: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.10', last: '198.51.100.250' } } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Separate processes, as libvirt runs hooks: only the bridge lock keeps two of them from
  // picking the same lowest free address (the loser would fail "taken while allocating").
  test('30 processes claiming at once all succeed with 30 distinct addresses', async () => {
    const runs = await Promise.all(Array.from({ length: 30 }, (_, n) =>
      execa(process.execPath, [join(dir, 'claim.cjs'), join(dir, 'state'), join(dir, 'config.json'), String(n)], { reject: false })));
    expect(runs.map((r) => r.stderr).filter(Boolean)).toEqual([]);
    expect(new Set(runs.map((r) => r.stdout.trim())).size).toBe(30);
  });
});
