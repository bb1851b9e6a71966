import { makeContext, type Context } from '../core/context.js';
import { readRole } from '../core/role.js';
import { quickState } from '../core/status.js';
import { cidrText, compareAddresses, linkLocalFromMac, type Cidr } from '../domain/address.js';
import type { NetworkRecord, Upstream } from '../domain/model.js';
import { routerMac } from '../domain/names.js';
import { table } from './output.js';

export function mapping(record: NetworkRecord, ctx: Context) {
  return {
    network: record.name,
    uuid: record.uuid,
    bridge: record.bridge,
    namespace: ctx.network(record).names.namespace,
    // An IPv6-only network has no IPv4 side to show.
    ...(record.private && record.lease ? ipv4Mapping(record.private, record.lease) : {}),
    ...(record.private6 && record.lease6 ? ipv6Mapping(record) : {}),
    state: quickState(record, ctx),
    // Stretched networks: whether this host's router is the active one, which host's is, since when.
    ...(record.vxlan ? { stretch: stretchOf(record, ctx) } : {}),
  };
}

function ipv4Mapping(priv: Cidr, lease: Upstream) {
  return {
    private: cidrText(priv),
    upstream: { address: lease.address, prefix: lease.prefix, bridge: lease.bridge, gateway: lease.gateway, ...(lease.pool ? { pool: lease.pool } : {}) },
  };
}

function ipv6Mapping(record: NetworkRecord) {
  const l = record.lease6!;
  return {
    private6: cidrText(record.private6!),
    upstream6: {
      address: l.address, prefix: l.prefix, bridge: l.bridge, gateway: l.gateway, ...(l.pool ? { pool: l.pool } : {}), mode: l.mode,
      // The leased prefix is routed to the router's wan link-local address (stable: from its MAC).
      ...(l.mode === 'nptv6' ? { nextHop: linkLocalFromMac(routerMac(record.uuid, 'wan')) } : {}),
    },
  };
}

export function stretchOf(record: NetworkRecord, ctx: Context): { vni: number; active: boolean; host: string | null; since: string | null } {
  const role = readRole(ctx.stateDir, record.uuid);
  return { vni: record.vxlan!.vni, active: record.phase === 'running' && role.active, host: role.host ?? null, since: role.since ?? null };
}

export async function run(options: { allHosts?: boolean; json?: boolean }): Promise<number> {
  const json = options.json === true;
  const ctx = makeContext();
  // A broken config breaks the next network start: say so now rather than list as if all is well.
  ctx.config();
  if (options.allHosts) return allHosts(ctx, json);
  const rows = ctx.records.list().map((r) => mapping(r, ctx));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  // The IPv6 columns appear only where some network has IPv6, so IPv4-only hosts see what they saw.
  const v6 = rows.some((m) => m.upstream6);
  process.stdout.write(
    table(
      ['NETWORK', 'BRIDGE', 'NAMESPACE', 'PRIVATE', 'UPSTREAM', ...(v6 ? ['PRIVATE6', 'UPSTREAM6'] : []), 'UPSTREAM-BRIDGE', 'STATE'],
      rows.map((m) => [
        m.network, m.bridge, m.namespace, m.private ?? '-', m.upstream ? `${m.upstream.address}/${m.upstream.prefix}` : '-',
        ...(v6 ? [m.private6 ?? '-', m.upstream6 ? upstream6Text(m.upstream6) : '-'] : []), (m.upstream ?? m.upstream6)!.bridge,
        m.stretch ? `${m.state}, ${m.stretch.active ? 'active' : `standby (active: ${m.stretch.host ?? '?'})`}` : m.state,
      ]),
    ),
  );
  return 0;
}

/** `2001:db8:100::100/64`, or for NPTv6 the prefix and its mode: `2001:db8:200:1::/64 nptv6`. */
export function upstream6Text(u: { address: string; prefix: number; mode: string }): string {
  return `${u.address}/${u.prefix}${u.mode === 'nptv6' ? ' nptv6' : ''}`;
}

/** Every host's leases, from the shared store: who holds which upstream address. */
async function allHosts(ctx: Context, json: boolean): Promise<number> {
  const rows = (await ctx.ipam.leases({ allHosts: true }))
    .map((l) => ({
      host: l.owner.host ?? '?', owner: l.owner.name, uuid: l.owner.uuid, kind: l.owner.kind ?? 'network',
      address: l.address, bridge: l.bridge, ...(l.owner.pool ? { pool: l.owner.pool } : {}),
    }))
    .sort((a, b) => a.bridge.localeCompare(b.bridge) || compareAddresses(a.address, b.address));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(table(['HOST', 'OWNER', 'KIND', 'UPSTREAM', 'BRIDGE', 'POOL'], rows.map((r) => [r.host, r.owner, r.kind, r.address, r.bridge, r.pool ?? '-'])));
  return 0;
}
