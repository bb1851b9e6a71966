import { makeContext, type Context } from '../core/context.js';
import { libvirtNetworks, libvirtSpecs } from '../core/reconcile.js';
import { stretchOf } from '../core/role.js';
import { quickStates } from '../core/status.js';
import { errorText } from '../domain/errors.js';
import { cidrText, compareAddresses, linkLocalFromMac, type Cidr } from '../domain/address.js';
import type { NetworkRecord, NetworkSpec, Upstream } from '../domain/model.js';
import { routerMac } from '../domain/names.js';
import type { LibvirtSays, MappingState } from '../plan/quick-state.js';
import { stateColour, table } from './output.js';

/** A network's mapping as list and show print it; `state` is judged by the caller (see core/status.ts). */
export function mapping(record: NetworkRecord, ctx: Context, state: MappingState) {
  return {
    network: record.name,
    uuid: record.uuid,
    bridge: record.bridge,
    namespace: ctx.network(record).names.namespace,
    // An IPv6-only network has no IPv4 side to show.
    ...(record.private && record.lease ? ipv4Mapping(record.private, record.lease) : {}),
    ...(record.private6 && record.lease6 ? ipv6Mapping(record) : {}),
    state,
    // Stretched networks: whether this host's router is the active one, which host's is, since when.
    ...(record.vxlan ? { stretch: stretchOf(record, ctx.stateDir) } : {}),
  };
}

type Mapping = ReturnType<typeof mapping> & { private?: string; private6?: string };

/** A natns network libvirt defines that natns never started: no lease yet, nothing to show upstream. */
function definedOnly(spec: NetworkSpec, ctx: Context, state: MappingState): Mapping {
  return {
    network: spec.name, uuid: spec.uuid, bridge: spec.bridge, namespace: ctx.network(spec).names.namespace,
    ...(spec.private ? { private: cidrText(spec.private) } : {}), ...(spec.private6 ? { private6: cidrText(spec.private6) } : {}), state,
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


export async function run(options: { allHosts?: boolean; json?: boolean; wide?: boolean }): Promise<number> {
  const json = options.json === true;
  const ctx = makeContext();
  // A broken config breaks the next network start: say so now rather than list as if all is well.
  ctx.config();
  if (options.allHosts) return allHosts(ctx, json, options.wide === true);
  const records = ctx.records.list();
  // libvirt's word on which networks run, and the natns networks it defines that natns never
  // started; without it, states come from natns's records and the kernel alone. Asked while
  // the kernel is read.
  let definedOnlySpecs: { spec: NetworkSpec; active: boolean }[] = [];
  const libvirt = (async (): Promise<(uuid: string) => LibvirtSays> => {
    try {
      const lv = await libvirtNetworks();
      const known = new Set(records.map((r) => r.uuid));
      const others = [...lv.active, ...lv.inactive].filter((u) => !known.has(u));
      definedOnlySpecs = (await libvirtSpecs(others)).map((spec) => ({ spec, active: lv.active.has(spec.uuid) }));
      return (uuid) => (lv.active.has(uuid) ? 'active' : lv.inactive.has(uuid) ? 'inactive' : 'undefined');
    } catch (err) {
      process.stderr.write(`natns: could not ask libvirt which networks it defines and runs (${errorText(err)}); states come from natns's own records\n`);
      return () => 'unknown';
    }
  })();
  const states = await quickStates(records, ctx, libvirt);
  const rows: Mapping[] = [
    ...records.map((r) => mapping(r, ctx, states.get(r.uuid)!.state)),
    // Active without a record: libvirt runs it but natns never built its router (hooks missing?).
    ...definedOnlySpecs.map(({ spec, active }) => definedOnly(spec, ctx, active ? 'down' : 'stopped')),
  ].sort((a, b) => a.network.localeCompare(b.network));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const cidr = (u: { address: string; prefix: number } | undefined) => (u ? `${u.address}/${u.prefix}` : '-');
  if (options.wide) {
    // Everything, however wide: the IPv6 columns appear only where some network has IPv6.
    const v6 = rows.some((m) => m.private6);
    process.stdout.write(table(
      headers(v6),
      rows.map((m) => [
        m.network, m.bridge, m.namespace, m.private ?? '-', cidr(m.upstream),
        ...(v6 ? [m.private6 ?? '-', m.upstream6 ? upstream6Text(m.upstream6) : '-'] : []), (m.upstream ?? m.upstream6)?.bridge ?? '-',
        stateText(m, true),
      ]),
      { width: Infinity, paint: (i, v) => (i === headers(v6).length - 1 ? stateColour(v.split(',')[0]!) : undefined) },
    ));
    return 0;
  }
  // 80 columns: an IPv6-only network shows its IPv6 side; the rest is in --wide and show.
  process.stdout.write(table(
    ['NETWORK', 'BRIDGE', 'PRIVATE', 'UPSTREAM', 'STATE'],
    rows.map((m) => [m.network, m.bridge, m.private ?? m.private6 ?? '-', m.upstream ? cidr(m.upstream) : m.upstream6 ? upstream6Text(m.upstream6) : '-', stateText(m, false)]),
    { shrink: [0, 3, 2], paint: (i, v) => (i === 4 ? stateColour(v.split(',')[0]!) : undefined) },
  ));
  return 0;
}

const headers = (v6: boolean) => ['NETWORK', 'BRIDGE', 'NAMESPACE', 'PRIVATE', 'UPSTREAM', ...(v6 ? ['PRIVATE6', 'UPSTREAM6'] : []), 'UPSTREAM-BRIDGE', 'STATE'];

/** The state, and for a stretched network whether this host's router is the active one (wide: which host's is). */
function stateText(m: Mapping & { stretch?: ReturnType<typeof stretchOf> }, wide: boolean): string {
  if (!m.stretch) return m.state;
  if (m.stretch.active) return `${m.state}, active`;
  return wide ? `${m.state}, standby (active: ${m.stretch.host ?? '?'})` : `${m.state}, standby`;
}

/** `2001:db8:100::100/64`, or for NPTv6 the prefix and its mode: `2001:db8:200:1::/64 nptv6`. */
export function upstream6Text(u: { address: string; prefix: number; mode: string }): string {
  return `${u.address}/${u.prefix}${u.mode === 'nptv6' ? ' nptv6' : ''}`;
}

/** Every host's leases, from the shared store: who holds which upstream address. */
async function allHosts(ctx: Context, json: boolean, wide: boolean): Promise<number> {
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
  process.stdout.write(table(['HOST', 'OWNER', 'KIND', 'UPSTREAM', 'BRIDGE', 'POOL'], rows.map((r) => [r.host, r.owner, r.kind, r.address, r.bridge, r.pool ?? '-']), {
    ...(wide ? { width: Infinity } : { shrink: [1, 0, 5, 3] }),
  }));
  return 0;
}
