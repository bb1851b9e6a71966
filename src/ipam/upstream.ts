import { join } from 'node:path';
import type { HostConfig, PoolConfig } from '../config/config.js';
import { InputError } from '../errors.js';
import { formatCidr, formatIPv4, networkOf, subnetsOverlap } from '../ipv4.js';
import type { UpstreamSpec } from '../libvirt/network-xml.js';
import type { Upstream } from '../plan/router.js';
import { withLock } from '../state/lock.js';
import { lowestFree } from './allocator.js';
import { checkpoint } from '../core/checkpoint.js';
import type { LeaseOwner, LeaseStore } from './leases.js';

/**
 * Give a network its upstream address: the one it had before if it still fits, else the lowest
 * free one of its pool, or the fixed one from its metadata if nobody else holds it. The pool lock
 * is held only around the lease files, never across kernel work.
 */
export async function resolveUpstream(
  spec: UpstreamSpec,
  owner: LeaseOwner,
  config: HostConfig,
  leases: LeaseStore,
  lockDir: string,
  previous: Upstream | undefined,
): Promise<Upstream> {
  const wanted = spec.kind === 'pool' ? poolOf(spec.pool, config) : undefined;
  const bridge = wanted?.bridge ?? (spec.kind === 'fixed' ? spec.bridge : '');
  const upstream = await withLock(bridgeLock(lockDir, bridge), async () =>
    wanted ? leaseFromPool(wanted, owner, leases, previous) : claimFixed(spec as Extract<UpstreamSpec, { kind: 'fixed' }>, owner, leases),
  );
  if (previous && (previous.bridge !== upstream.bridge || previous.address !== upstream.address)) {
    // The metadata or pool changed: hand the old address back (only if it is still ours).
    await releaseLease(leases, lockDir, previous.bridge, previous.address, owner.uuid);
  }
  return upstream;
}

/** One lock per upstream bridge guards its lease files, for claims and releases alike. */
function bridgeLock(lockDir: string, bridge: string): string {
  return join(lockDir, `bridge-${bridge}.lock`);
}

/** Return an address to its pool, if `uuid` still holds it. */
export async function releaseLease(leases: LeaseStore, lockDir: string, bridge: string, address: number, uuid: string): Promise<void> {
  await withLock(bridgeLock(lockDir, bridge), async () => leases.release(bridge, address, uuid));
}

function poolOf(name: string, config: HostConfig): PoolConfig {
  const pool = config.pools.get(name);
  if (!pool) {
    const known = [...config.pools.keys()];
    throw new InputError(
      `upstream pool '${name}' is not defined in the natns config${known.length ? ` (defined: ${known.join(', ')})` : ' (no pools are defined)'}`,
    );
  }
  return pool;
}

function leaseFromPool(pool: PoolConfig, owner: LeaseOwner, leases: LeaseStore, previous: Upstream | undefined): Upstream {
  const fromPool = (address: number): Upstream => ({
    bridge: pool.bridge, address, prefix: pool.subnet.prefix, gateway: pool.gateway, pool: pool.name,
  });
  const inRange = (a: number) => a >= pool.first && a <= pool.last;
  const candidates = previous && previous.bridge === pool.bridge && inRange(previous.address)
    ? [previous.address]
    : leases.leasesOf(pool.bridge, owner.uuid).filter(inRange);
  for (const a of candidates) {
    if (leases.claim(pool.bridge, a, { ...owner, pool: pool.name }) === undefined) return fromPool(a);
  }
  const address = lowestFree(pool.first, pool.last, leases.used(pool.bridge));
  if (address === undefined) {
    const size = pool.last - pool.first + 1;
    throw new InputError(
      `upstream pool '${pool.name}' is exhausted: all ${size} addresses ${formatIPv4(pool.first)}-${formatIPv4(pool.last)} are leased; widen the pool in the natns config or free an address with 'natns release NETWORK'`,
    );
  }
  const other = leases.claim(pool.bridge, address, { ...owner, pool: pool.name });
  checkpoint();
  if (other) throw new InputError(`upstream address ${formatIPv4(address)} was taken by '${other.name}' while allocating; start the network again`);
  return fromPool(address);
}

function claimFixed(spec: Extract<UpstreamSpec, { kind: 'fixed' }>, owner: LeaseOwner, leases: LeaseStore): Upstream {
  const other = leases.claim(spec.bridge, spec.address, owner);
  if (other) {
    throw new InputError(`upstream address ${formatIPv4(spec.address)} on ${spec.bridge} is already used by '${other.name}' (${other.uuid}); give this network another address`);
  }
  return { bridge: spec.bridge, address: spec.address, prefix: spec.prefix, gateway: spec.gateway };
}

/** The private side must not overlap the upstream side, or the namespace could not tell them apart. */
export function checkNoOverlap(priv: { address: number; prefix: number }, up: Upstream): void {
  if (subnetsOverlap(priv.address, priv.prefix, up.address, up.prefix)) {
    throw new InputError(
      `private subnet ${formatCidr(networkOf(priv.address, priv.prefix), priv.prefix)} overlaps upstream subnet ${formatCidr(networkOf(up.address, up.prefix), up.prefix)}; the namespace could not route between them`,
    );
  }
}
