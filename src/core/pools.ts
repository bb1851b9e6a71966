import type { PoolConfig } from '../config/config.js';
import { compareAddresses, subnetText } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import type { Lease } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { poolShape, rangeSize } from '../ipam/allocator.js';
import type { Context } from './context.js';

/** A count that fits a JSON number, or its decimal text when it does not (a wide IPv6 range). */
export type Count = number | string;

function count(n: bigint): Count {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

export interface PoolUsage {
  pool: string;
  bridge: string;
  family: 'ipv4' | 'ipv6';
  subnet: string;
  gateway: string;
  first: string;
  last: string;
  /** 'addresses', or '/64 prefixes' for an NPTv6 pool. */
  units: string;
  size: Count;
  used: Count;
  free: Count;
}

export interface PoolLease {
  address: string;
  /** A network's upstream address, or a guest's 1:1 address. */
  kind: 'network' | 'guest';
  owner: string;
  uuid: string;
  host: string;
}

/** The leases of one pool: on its bridge, inside its range (a fixed address there blocks it too). */
function inPool(pool: PoolConfig, leases: Lease[]): Lease[] {
  const { inRange } = poolShape(pool);
  return leases.filter((l) => l.bridge === pool.bridge && inRange(l.address)).sort((a, b) => compareAddresses(a.address, b.address));
}

function usage(pool: PoolConfig, leases: Lease[]): PoolUsage {
  const shape = poolShape(pool);
  const size = rangeSize(pool.first, pool.last, shape.step);
  const used = BigInt(inPool(pool, leases).length);
  return {
    pool: pool.name, bridge: pool.bridge, family: pool.subnet.address.includes(':') ? 'ipv6' : 'ipv4', subnet: subnetText(pool.subnet),
    gateway: pool.gateway, first: pool.first, last: pool.last, units: shape.units, size: count(size), used: count(used), free: count(size - used),
  };
}

/**
 * Every pool of the config with its use. Leases are read from the store the config names, every
 * host's (on etcd the pools are shared: what another host holds is not free here either).
 */
export async function poolUsage(ctx: Context): Promise<PoolUsage[]> {
  const pools = [...ctx.config().pools.values()];
  const leases = pools.length > 0 ? await ctx.ipam.leases({ allHosts: true }) : [];
  return pools.sort((a, b) => a.name.localeCompare(b.name)).map((p) => usage(p, leases));
}

export function findPool(ctx: Context, name: string): PoolConfig {
  const pools = ctx.config().pools;
  const pool = pools.get(name);
  if (pool) return pool;
  const known = [...pools.keys()].sort();
  throw new InputError(`no pool named '${printable(name)}' in the natns config (${known.length ? `defined: ${known.join(', ')}` : 'it defines none'}; see natns pool list)`);
}

/** One pool's use and every lease in it, with its owner and the host that holds it. */
export async function poolDetail(ctx: Context, name: string): Promise<PoolUsage & { leases: PoolLease[] }> {
  const pool = findPool(ctx, name);
  const all = await ctx.ipam.leases({ allHosts: true });
  const host = ctx.config().host;
  return {
    ...usage(pool, all),
    leases: inPool(pool, all).map((l) => ({
      address: l.address, kind: l.owner.kind === 'guest' ? 'guest' : 'network', owner: l.owner.name, uuid: l.owner.uuid, host: l.owner.host ?? host,
    })),
  };
}
