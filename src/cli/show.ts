import { makeContext } from '../core/context.js';
import { inspect } from '../core/status.js';
import { InputError } from '../errors.js';
import { run as exec } from '../kernel/exec.js';
import { namespaceExists } from '../kernel/sysfs.js';
import { inNetns } from '../kernel/netns.js';
import { printable } from '../text.js';
import { mapping } from './list.js';
import { forwardsOf, ownerName } from '../core/forwards.js';
import type { Context } from '../core/context.js';
import type { NetworkRecord } from '../state/records.js';
import { parseLeases } from '../plan/dnsmasq.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

async function proxyListening(namespace: string, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
  const cmd = inNetns(namespace, ['ss', '-H', proto === 'tcp' ? '-ltn' : '-lun', 'sport', '=', `:${port}`]);
  const r = await exec(cmd.file, cmd.args);
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/** Guests plugged into the network (port-created events), with the address DHCP or a reservation gave them. */
function attachedGuests(record: NetworkRecord, ctx: Context): { vm: string; mac: string; address?: string }[] {
  let leases = new Map<string, string>();
  try {
    leases = parseLeases(readFileSync(join(ctx.dhcpDir(record.uuid), 'leases'), 'utf8'));
  } catch {
    // No DHCP on this network.
  }
  const reserved = new Map(ctx.guests.list().flatMap((g) => g.networks.filter((n) => n.network === record.name && n.ip).map((n) => [n.mac, n.ip!] as const)));
  return ctx.ports(record.uuid).list().map((p) => {
    const address = leases.get(p.mac) ?? reserved.get(p.mac);
    return { vm: p.vm, mac: p.mac, ...(address ? { address } : {}) };
  }).sort((a, b) => a.vm.localeCompare(b.vm));
}

export const help = `Usage: natns show NETWORK [--json]

One network's mapping in detail, with what the kernel holds right now: the namespace's links,
addresses, routes and nft table, and every difference from what natns planned.
`;

export async function run(args: string[]): Promise<number> {
  const name = args.find((a) => !a.startsWith('-'));
  if (!name) throw new InputError('natns show needs a NETWORK name (see natns list)');
  const ctx = makeContext();
  const record = ctx.records.findByName(name);
  if (!record) throw new InputError(`natns knows no network '${printable(name)}' (see natns list)`);
  const m = mapping(record);
  const found = await inspect(record, ctx);
  const differences = found.changes ? [...found.changes.conflicts, ...found.changes.differences] : [];
  if (args.includes('--json')) {
    process.stdout.write(JSON.stringify({
      ...m, phase: record.phase, differences, guests: attachedGuests(record, ctx), forwards: forwardsOf(ctx, record), kernel: found.observed ?? null,
    }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [
    `Network:         ${m.network} (${m.uuid})`,
    `State:           ${m.state} (last hook event: ${record.phase}, ${record.updated})`,
    `Bridge:          ${m.bridge}`,
    `Namespace:       ${m.namespace}`,
    `Private gateway: ${m.private}`,
    `Upstream:        ${m.upstream.address}/${m.upstream.prefix} via ${m.upstream.gateway} on ${m.upstream.bridge}${m.upstream.pool ? ` (pool ${m.upstream.pool})` : ''}`,
  ];
  const d = found.desired;
  if (d?.lan.kind === 'macvlan') out.push(`Macvlan patches: ${d.lan.peer} on ${d.lan.master}, ${d.wan.peer} on ${d.wan.master}`);
  else if (d) out.push(`Veth patches:    ${d.lan.host} <-> ${d.lan.peer}, ${d.wan.host} <-> ${d.wan.peer}`);
  out.push(`Differences:     ${differences.length === 0 ? (found.desired ? 'none' : 'not checked (network is down)') : ''}`);
  for (const d of differences) out.push(`  - ${d}`);
  const guests = attachedGuests(record, ctx);
  out.push('', 'Guests attached:', ...(guests.length ? guests.map((g) => `  ${g.vm}  ${g.mac}  ${g.address ?? 'no address seen'}`) : ['  none']));
  if (record.tproxy) {
    const t = record.tproxy;
    const listening = namespaceExists(record.namespace) && (await proxyListening(record.namespace, t.proto, t.toPort));
    out.push('', `Transparent proxy: ${t.proto} ports ${t.ports.join(',')} -> :${t.toPort} (fwmark ${t.mark}, table ${t.table}); ${listening ? 'a proxy is listening' : `NOTHING listens on ${t.toPort}: start one with natns exec ${record.name} -- ...`}`);
  }
  const publics = ctx.guests.list().flatMap((g) => g.networks.filter((n) => n.network === record.name && n.publicAddress).map((n) => `  ${n.publicAddress} <-> ${n.ip}  (guest ${g.name}, stateless)`));
  if (publics.length) out.push('', '1:1 addresses:', ...publics);
  const forwards = forwardsOf(ctx, record);
  out.push('', 'Forwards:', ...(forwards.length
    ? forwards.map((f) => `  ${f.proto} ${record.upstream.address}:${f.port} -> ${f.to}:${f.toPort}  (${ownerName(ctx, f.owner)})`)
    : ['  none']));
  if (namespaceExists(record.namespace)) {
    for (const [title, argv] of [
      ['Addresses', ['ip', '-br', 'addr', 'show']],
      ['Routes', ['ip', 'route', 'show']],
      ['nft', ['nft', 'list', 'table', 'ip', 'natns']],
    ] as const) {
      const cmd = inNetns(record.namespace, [...argv]);
      const r = await exec(cmd.file, cmd.args);
      out.push('', `${title}:`, ...(r.stdout.trimEnd() || r.stderr.trim()).split('\n').map((l) => `  ${l}`));
    }
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
