import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeContext, type Context } from '../core/context.js';
import { forwardsOf, oneToOneOf, ownerName, publishedAt, targetOf } from '../core/forwards.js';
import { observeGuestTaps } from '../core/guest-taps.js';
import { findNetwork } from '../core/lookup.js';
import { pendingChange } from '../core/network-admin.js';
import { guestView, unknownName, type GuestView } from '../core/views.js';
import { inspect, presence } from '../core/status.js';
import { dnsmasqAbsence } from '../kernel/dnsmasq.js';
import { offBridgeText } from '../plan/guest-taps.js';
import { mappingState } from '../plan/quick-state.js';
import { errorText } from '../domain/errors.js';
import type { NetworkRecord, Proto } from '../domain/model.js';
import { NFT_TABLE } from '../domain/names.js';
import type { Netns } from '../kernel/netns.js';
import { parseLeases } from '../plan/dnsmasq.js';
import { patchFor } from '../plan/patches/index.js';
import { mapping, upstream6Text } from './list.js';

async function proxyListening(ns: Netns, proto: Proto, port: number): Promise<boolean> {
  const r = await ns.run(['ss', '-H', proto === 'tcp' ? '-ltn' : '-lun', 'sport', '=', `:${port}`]);
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/**
 * Guests plugged into the network (port-created events), with the address DHCP or a reservation
 * gave them; `attached` says whether the guest's tap is a port of the bridge now.
 */
function attachedGuests(record: NetworkRecord, ctx: Context): { vm: string; mac: string; attached: boolean; address?: string }[] {
  const handle = ctx.network(record);
  let leases = new Map<string, string>();
  try {
    leases = parseLeases(readFileSync(join(handle.dhcpDir, 'leases'), 'utf8'));
  } catch {
    // No DHCP on this network.
  }
  const reserved = new Map(ctx.guests.list().flatMap((g) => g.networks.filter((n) => n.network === record.name && n.ip).map((n) => [n.mac, n.ip!] as const)));
  const taps = observeGuestTaps(handle, record.bridge, ctx.guests.list());
  const off = new Set([...taps.plug, ...taps.elsewhere, ...taps.gone.map((port) => ({ port }))].map((g) => g.port.port));
  return handle.ports.list().map((p) => {
    const address = leases.get(p.mac) ?? reserved.get(p.mac);
    return { vm: p.vm, mac: p.mac, attached: !off.has(p.port), ...(address ? { address } : {}) };
  }).sort((a, b) => a.vm.localeCompare(b.vm));
}

/** Who holds the network's upstream address in the lease store, on which host. */
async function leaseHolder(record: NetworkRecord, ctx: Context): Promise<{ backend: string; host?: string; owner?: string; uuid?: string; error?: string }> {
  const backend = ctx.config().ipam.backend;
  // An IPv6-only network's lease is its IPv6 one.
  const lease = record.lease ?? record.lease6!;
  try {
    const held = await ctx.ipam.holder(lease.bridge, lease.address);
    return held ? { backend, host: held.owner.host ?? '?', owner: held.owner.name, uuid: held.owner.uuid } : { backend };
  } catch (err) {
    return { backend, error: errorText(err) };
  }
}

function leaseText(l: Awaited<ReturnType<typeof leaseHolder>>, record: NetworkRecord): string {
  const store = l.backend === 'etcd' ? 'etcd' : 'the lease files';
  if (l.error) return `unknown: ${l.error}`;
  if (!l.host) return `NOT HELD: ${store} hold no lease for this address; the next start leases one again`;
  if (l.uuid !== record.uuid) return `HELD BY ANOTHER: ${l.owner} (${l.uuid}) on host ${l.host}, in ${store}`;
  return `held by host ${l.host} in ${store}`;
}

export async function run(name: string, options: { json?: boolean }): Promise<number> {
  const ctx = makeContext();
  if (!ctx.records.list().some((r) => r.name === name || r.uuid === name)) {
    const guest = await guestView(ctx, name);
    if (!guest) throw unknownName(ctx, name);
    return showGuest(guest, options);
  }
  const record = findNetwork(ctx, name, 'show');
  const { netns } = ctx.network(record);
  const found = await inspect(record, ctx);
  const lease = await leaseHolder(record, ctx);
  const handle = ctx.network(record);
  const taps = found.changes ? observeGuestTaps(handle, record.bridge, ctx.guests.list()) : undefined;
  const dhcp = found.changes && (record.dhcp || record.private6) ? dnsmasqAbsence(handle.dhcpDir, handle.names.namespace) : undefined;
  // What check would report of this network, and the state it makes (show does not ask libvirt).
  const differences = found.changes ? [
    ...found.changes.conflicts, ...found.changes.differences, ...(dhcp ? [dhcp] : []),
    ...[...taps!.plug, ...taps!.elsewhere].map((g) => offBridgeText(record.bridge, g)),
  ] : [];
  const m = mapping(record, ctx, mappingState({ libvirt: 'unknown', phase: record.phase, ...presence(record, ctx), differences }));
  const pending = await pendingChange(record.name);
  if (options.json) {
    process.stdout.write(JSON.stringify({
      ...m, phase: record.phase, ...(pending ? { pendingChange: true } : {}), lease, differences, guests: attachedGuests(record, ctx), forwards: forwardsOf(ctx, record), kernel: found.observed ?? null,
    }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [
    `Network:         ${m.network} (${m.uuid})`,
    `State:           ${m.state} (last hook event: ${record.phase}, ${record.updated})`,
    ...(pending ? [`Pending change:  its definition differs from what runs; restart to apply: virsh net-destroy ${record.name} && virsh net-start ${record.name}`] : []),
    `Bridge:          ${m.bridge}`,
    `Namespace:       ${m.namespace}`,
    ...(m.stretch ? [`Stretch:         VXLAN ${m.stretch.vni}; ${m.stretch.active ? 'this host\'s router is active' : 'this host\'s router stands by'}; active host ${m.stretch.host ?? 'unknown'}${m.stretch.since ? ` since ${m.stretch.since}` : ''}`] : []),
  ];
  if (m.private && m.upstream) {
    out.push(
      `Private gateway: ${m.private}`,
      `Upstream:        ${m.upstream.address}/${m.upstream.prefix} via ${m.upstream.gateway} on ${m.upstream.bridge}${m.upstream.pool ? ` (pool ${m.upstream.pool})` : ''}`,
      `Lease:           ${leaseText(lease, record)}`,
    );
  }
  if (m.private6 && m.upstream6) {
    const u = m.upstream6;
    out.push(
      `Private IPv6:    ${m.private6}`,
      `Upstream IPv6:   ${upstream6Text(u)} via ${u.gateway} on ${u.bridge}${u.pool ? ` (pool ${u.pool})` : ''}`,
      ...(u.nextHop ? [`                 the upstream router must route ${u.address}/${u.prefix} via ${u.nextHop} on ${u.bridge}`] : []),
    );
  }
  const d = found.desired;
  if (d) out.push(patchFor(d.lan.kind).describe(d.lan, d.wan));
  out.push(`Differences:     ${differences.length === 0 ? (found.desired ? 'none' : 'not checked (network is down)') : ''}`);
  for (const d of differences) out.push(`  - ${d}`);
  const guests = attachedGuests(record, ctx);
  out.push('', 'Guests attached:', ...(guests.length ? guests.map((g) => `  ${g.vm}  ${g.mac}  ${g.address ?? 'no address seen'}${g.attached ? '' : `  OFF THE BRIDGE ${record.bridge}`}`) : ['  none']));
  if (record.tproxy) {
    const t = record.tproxy;
    const listening = netns.exists() && (await proxyListening(netns, t.proto, t.toPort));
    out.push('', `Transparent proxy: ${t.proto} ports ${t.ports.join(',')} -> :${t.toPort} (fwmark ${t.mark}, table ${t.table}); ${listening ? 'a proxy is listening' : `NOTHING listens on ${t.toPort}: start one with natns exec ${record.name} -- ...`}`);
  }
  const publics = oneToOneOf(record, ctx.guests.list()).map((o) => `  ${o.public} <-> ${o.private}  (${ownerName(ctx, o.owner)}, stateless)`);
  if (publics.length) out.push('', '1:1 addresses:', ...publics);
  const forwards = forwardsOf(ctx, record);
  out.push('', 'Forwards:', ...(forwards.length
    ? forwards.map((f) => `  ${f.proto} ${publishedAt(record, f)} -> ${targetOf(f)}  (${ownerName(ctx, f.owner)})`)
    : ['  none']));
  if (netns.exists()) {
    for (const [title, argv] of [
      ['Addresses', ['ip', '-br', 'addr', 'show']],
      ['Routes', ['ip', 'route', 'show']],
      ...(record.lease ? [['nft', ['nft', 'list', 'table', 'ip', NFT_TABLE]]] as const : []),
      ...(record.lease6 ? [
        ['IPv6 routes', ['ip', '-6', 'route', 'show']],
        ['nft (IPv6)', ['nft', 'list', 'table', 'ip6', NFT_TABLE]],
      ] as const : []),
    ] as const) {
      const r = await netns.run([...argv]);
      out.push('', `${title}:`, ...(r.stdout.trimEnd() || r.stderr.trim()).split('\n').map((l) => `  ${l}`));
    }
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** `natns show GUEST`: the guest's networks, addresses, forwards and 1:1 addresses. */
function showGuest(g: GuestView, options: { json?: boolean }): number {
  if (options.json) {
    process.stdout.write(JSON.stringify(g, null, 2) + '\n');
    return 0;
  }
  const out = [
    `Guest:           ${g.guest} (${g.uuid})`,
    `State:           ${g.running ? 'running' : 'stopped (natns keeps only its 1:1 leases)'}`,
  ];
  for (const n of g.networks) {
    out.push('', `Network:         ${n.network} (MAC ${n.mac})`);
    out.push(`Private:         ${[n.private, n.private6].filter(Boolean).join(', ') || 'no address seen (no reservation, no DHCP lease)'}`);
    out.push(`Upstream:        ${[n.upstream, n.upstream6].filter(Boolean).join(', ') || '-'}${n.public || n.public6 ? " (the network's; this guest's traffic leaves with its 1:1 address)" : " (the network's, shared by its guests)"}`);
    if (n.public || n.public6) out.push(`1:1 address:     ${[n.public, n.public6].filter(Boolean).join(', ')}`);
    out.push('Forwards:', ...(n.forwards.length ? n.forwards.map((f) => `  ${f.proto} ${f.published} -> ${f.to}`) : ['  none']));
  }
  if (!g.running && g.leases.length) out.push('', '1:1 leases:', ...g.leases.map((l) => `  ${l.address} on ${l.bridge}`));
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
