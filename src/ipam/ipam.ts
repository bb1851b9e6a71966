import { join } from 'node:path';
import type { HostConfig, PoolConfig } from '../config/config.js';
import { InputError } from '../domain/errors.js';
import type { FixedUpstream, Lease, LeaseOwner, Upstream, UpstreamSpec } from '../domain/model.js';
import { checkpoint } from '../sys/checkpoint.js';
import { withLock } from '../sys/lock.js';
import { lowestFree, poolShape, rangeSize } from './allocator.js';
import type { FileLeaseStore } from './leases.js';

/** The address an owner had before: where on the upstream side, nothing more is needed. */
export type Previous = Pick<Upstream, 'bridge' | 'address'>;

/**
 * Upstream addresses for networks and 1:1 guests: one object the core asks, whatever keeps the
 * leases. Addresses are unique per upstream bridge (one L2 segment), pooled or fixed.
 */
export interface Ipam {
  /**
   * The owner's address: the one it had before if it still fits, else the lowest free one of its
   * pool, or the fixed one from its spec if nobody else holds it. A changed spec hands the old
   * address back.
   */
  claim(spec: UpstreamSpec, owner: LeaseOwner, previous?: Previous): Promise<Upstream>;
  /** Return an address to its pool, if `ownerUuid` still holds it (on this host). */
  release(lease: { bridge: string; address: string }, ownerUuid: string): Promise<void>;
  /** This host's leases; with `allHosts`, every host's that share the store. Each names its host. */
  leases(options?: { allHosts?: boolean }): Promise<Lease[]>;
  /** Whoever holds `address` on `bridge` now, on any host. */
  holder(bridge: string, address: string): Promise<Lease | undefined>;
}

/** Leases as files on this host (the embedded default), one lock per upstream bridge around them. */
export class FileIpam implements Ipam {
  constructor(
    private readonly store: FileLeaseStore,
    private readonly lockDir: string,
    private readonly config: () => HostConfig,
  ) {}

  async claim(spec: UpstreamSpec, owner: LeaseOwner, previous?: Previous): Promise<Upstream> {
    const pool = spec.kind === 'pool' ? poolOf(spec.pool, this.config()) : undefined;
    const bridge = pool?.bridge ?? (spec as FixedUpstream).bridge;
    // The lock is held only around the lease files, never across kernel work.
    const upstream = await this.locked(bridge, async () =>
      pool ? this.leaseFromPool(pool, owner, previous) : this.claimFixed(spec as FixedUpstream, owner),
    );
    if (previous && (previous.bridge !== upstream.bridge || previous.address !== upstream.address)) {
      await this.release(previous, owner.uuid);
    }
    return upstream;
  }

  async release(lease: { bridge: string; address: string }, ownerUuid: string): Promise<void> {
    await this.locked(lease.bridge, async () => this.store.release(lease.bridge, lease.address, ownerUuid));
  }

  async leases(): Promise<Lease[]> {
    return this.store.all().map((l) => ({ ...l, owner: { ...l.owner, host: this.config().host } }));
  }

  async holder(bridge: string, address: string): Promise<Lease | undefined> {
    const owner = this.store.holder(bridge, address);
    return owner && { bridge, address, owner: { ...owner, host: this.config().host } };
  }

  /** One lock per upstream bridge guards its lease files, for claims and releases alike. */
  private locked<T>(bridge: string, fn: () => Promise<T>): Promise<T> {
    return withLock(join(this.lockDir, `bridge-${bridge}.lock`), fn);
  }

  private leaseFromPool(pool: PoolConfig, owner: LeaseOwner, previous: Previous | undefined): Upstream {
    const shape = poolShape(pool);
    const fromPool = (address: string): Upstream => ({
      bridge: pool.bridge, address, prefix: shape.prefix, gateway: pool.gateway, pool: pool.name,
    });
    const inRange = shape.inRange;
    const candidates = previous && previous.bridge === pool.bridge && inRange(previous.address)
      ? [previous.address]
      : this.store.leasesOf(pool.bridge, owner.uuid).filter(inRange);
    for (const a of candidates) {
      if (this.store.claim(pool.bridge, a, { ...owner, pool: pool.name }) === undefined) return fromPool(a);
    }
    const address = lowestFree(pool.first, pool.last, this.store.used(pool.bridge), shape.step);
    if (address === undefined) {
      throw new InputError(
        `upstream pool '${pool.name}' is exhausted: all ${rangeSize(pool.first, pool.last, shape.step)} ${shape.units} ${pool.first}-${pool.last} are leased; widen the pool in the natns config or free an address with 'natns release NETWORK'`,
      );
    }
    const other = this.store.claim(pool.bridge, address, { ...owner, pool: pool.name });
    checkpoint();
    if (other) throw new InputError(`upstream address ${address} was taken by '${other.name}' while allocating; start the network again`);
    return fromPool(address);
  }

  private claimFixed(spec: FixedUpstream, owner: LeaseOwner): Upstream {
    const other = this.store.claim(spec.bridge, spec.address, owner);
    if (other) {
      throw new InputError(`upstream address ${spec.address} on ${spec.bridge} is already used by '${other.name}' (${other.uuid}); give this network another address`);
    }
    return { bridge: spec.bridge, address: spec.address, prefix: spec.prefix, gateway: spec.gateway };
  }
}

export function poolOf(name: string, config: HostConfig): PoolConfig {
  const pool = config.pools.get(name);
  if (!pool) {
    const known = [...config.pools.keys()];
    throw new InputError(
      `upstream pool '${name}' is not defined in the natns config${known.length ? ` (defined: ${known.join(', ')})` : ' (no pools are defined)'}`,
    );
  }
  return pool;
}
