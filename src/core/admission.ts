import type { PoolConfig } from '../config/config.js';
import { InputError } from '../domain/errors.js';
import { contains, subnetText } from '../domain/address.js';
import type { Nat6Mode, NetworkRecord, NetworkSpec, Upstream } from '../domain/model.js';
import { isNatnsHostDevice } from '../domain/names.js';
import { hostAddressesOn } from '../kernel/host.js';
import { bridgePorts, isBridge, linkExists } from '../kernel/sysfs.js';
import type { Context } from './context.js';

/**
 * What `start begin` refuses before it leases anything, so a refusal costs nothing: bridges that
 * would join a tenant to the provider network or to another tenant, and a bridge in libvirt's way
 * that natns did not make. Returns whether the bridge is natns's own leftover, to be removed.
 */
export function admitBridges(net: NetworkSpec, previous: NetworkRecord | undefined, ctx: Context): { staleBridge: boolean } {
  const pools = [...ctx.config().pools.values()];
  const first = (net.upstream ?? net.upstream6)!;
  const upstreamBridge = first.kind === 'pool' ? ctx.config().pools.get(first.pool)?.bridge : first.bridge;
  const providerPool = pools.find((p) => p.bridge === net.bridge);
  if (net.bridge === upstreamBridge || providerPool) {
    throw new InputError(
      `bridge ${net.bridge} is ${providerPool ? `the upstream bridge of pool '${providerPool.name}'` : "the network's own upstream bridge"}: its guests would sit on the provider network; give the network a bridge of its own`,
    );
  }
  const others = ctx.records.list().filter((r) => r.uuid !== net.uuid);
  const tenant = others.find((r) => r.bridge === upstreamBridge);
  if (tenant) {
    throw new InputError(`upstream bridge ${upstreamBridge} is the private bridge of natns network '${tenant.name}': this network would reach that tenant's guests; use a provider bridge`);
  }
  const sharing = others.find((r) => r.bridge === net.bridge && r.phase !== 'stopped');
  if (sharing) throw new InputError(`bridge ${net.bridge} is already the bridge of natns network '${sharing.name}'; give this network a bridge of its own`);
  if (!linkExists(net.bridge)) return { staleBridge: false };
  const foreign = bridgePorts(net.bridge).filter((p) => !isNatnsHostDevice(p));
  if (previous?.bridge !== net.bridge || !isBridge(net.bridge) || foreign.length > 0) {
    throw new InputError(
      `bridge ${net.bridge} already exists and natns did not make it${foreign.length ? ` (ports: ${foreign.join(', ')})` : ''}, so libvirt cannot create it; give the network another bridge name`,
    );
  }
  return { staleBridge: true };
}

/** A fixed upstream address (either family) must not be an identity the segment already has: a pool's gateway. */
export function admitFixedAddress(net: NetworkSpec, pools: PoolConfig[]): void {
  for (const up of [net.upstream, net.upstream6]) {
    if (up?.kind !== 'fixed') continue;
    const { address, bridge } = up;
    const gatewayOf = pools.find((p) => p.bridge === bridge && p.gateway === address);
    if (gatewayOf) throw new InputError(`upstream address ${address} is the gateway of pool '${gatewayOf.name}' on ${bridge}; give this network another address`);
  }
}

/**
 * After leasing: an address the host itself holds on the upstream bridge would start an ARP
 * fight with the host. One `ip` process, paid only by starts.
 */
export async function admitLease(lease: Upstream & { mode?: Nat6Mode }, what: string): Promise<void> {
  const held = await hostAddressesOn(lease.bridge);
  // An NPTv6 prefix is routed to the router whole: no host address may lie inside it.
  const clash = lease.mode === 'nptv6' ? held.find((a) => contains(lease, a)) : held.find((a) => a === lease.address);
  if (clash !== undefined) {
    const where = lease.mode === 'nptv6' ? `${what} ${subnetText(lease)} holds ${clash}, this host's own address` : `${what} ${lease.address} is this host's own address`;
    throw new InputError(`${where} on ${lease.bridge}; give it another address, or take it out of the pool's range`);
  }
}
