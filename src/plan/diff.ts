import { diffAddrGenMode, noChanges, type RouterChanges } from './changes.js';
import { isUp, linkKind, UNSUPPORTED, type IpLink, type IpRoute, type IpRule, type ObservedRouter } from './observed.js';
import { patchFor } from './patches/index.js';
import type { DesiredRouter, LinkPlan, VxlanPlan } from './router.js';

export type { RouterChanges } from './changes.js';

export function diffRouter(desired: DesiredRouter, observed: ObservedRouter): RouterChanges {
  const c = noChanges();
  const ns = desired.namespace;
  if (!observed.namespace) {
    c.differences.push(`namespace ${ns} is missing`);
    c.host.push(`netns add ${ns}`);
  }
  const lo = observed.ns.find((l) => l.ifname === 'lo');
  if (!lo || !isUp(lo)) {
    if (observed.namespace) c.differences.push(`lo is down in ${ns}`);
    c.ns.push('link set lo up');
  }
  const recreated = new Set<string>();
  for (const link of [desired.lan, desired.wan]) {
    if (diffLink(link, desired, observed, c)) recreated.add(link.peer);
  }
  diffVxlan(desired, observed, c);
  diffRoutes(desired, observed, recreated, c);
  diffProxyNeighbors(desired, observed, recreated, c);
  diffTproxyRouting(desired, observed, c);
  for (const [key, value] of Object.entries(desired.sysctls)) {
    if (observed.sysctls[key] !== value) {
      if (observed.namespace) c.differences.push(`sysctl ${key} is ${observed.sysctls[key] ?? 'unreadable'}, want ${value}`);
      c.sysctls[key] = value;
    }
  }
  for (const [path, value] of Object.entries(desired.hostSettings)) {
    const have = observed.hostSettings[path];
    if (have === value || have === UNSUPPORTED) continue;
    if (observed.namespace) c.differences.push(`${path} is ${have ?? 'unreadable'}, want ${value}`);
    c.hostSettings[path] = value;
  }
  for (const [family, want, have] of [['ip', desired.nft, observed.nft], ['ip6', desired.nft6, observed.nft6]] as const) {
    if (have === want) continue;
    if (observed.namespace) {
      c.differences.push(`nft table ${family} natns ${have === undefined ? 'is missing' : want === undefined ? 'is not in the plan' : 'differs from the plan'}`);
    }
    c.nft = true;
  }
  return c;
}

const ZERO_MAC = '00:00:00:00:00:00';

/**
 * The stretch's VXLAN device in the host namespace: identity (VNI, local, port, underlay) can
 * only be set at creation, so a mismatch recreates it; MTU, bridge and state are set in place;
 * one all-zero FDB entry per remote makes broadcasts (ARP, DHCP) reach every other host.
 */
function diffVxlan(desired: DesiredRouter, observed: ObservedRouter, c: RouterChanges): void {
  const name = desired.vxlanName;
  const have = observed.host[name];
  const v = desired.vxlan;
  if (have && linkKind(have) !== 'vxlan') {
    if (v) c.conflicts.push(`${name} exists as a ${linkKind(have) ?? 'device of unknown kind'}, not as natns's VXLAN device; remove it (ip link del ${name}) and start the network again`);
    return;
  }
  if (!v) {
    if (have) {
      c.differences.push(`VXLAN device ${name} is present but the network is not stretched`);
      c.host.push(`link del ${name}`);
    }
    return;
  }
  const mismatch = have ? vxlanMismatch(v, have) : undefined;
  if (!have || mismatch) {
    if (have) {
      c.differences.push(`${name} ${mismatch}`);
      c.host.push(`link del ${name}`);
    } else {
      c.differences.push(`VXLAN device ${name} (VNI ${v.vni}, on ${v.master}) is missing`);
    }
    c.host.push(
      `link add ${name} mtu ${v.mtu} type vxlan id ${v.vni} local ${v.local} dstport ${v.port}${v.dev ? ` dev ${v.dev}` : ''}`,
      `link set ${name} addrgenmode none`,
      `link set ${name} master ${v.master}`,
      `link set ${name} up`,
    );
    c.fdb.push(...v.remotes.map((r) => `fdb append ${ZERO_MAC} dev ${name} dst ${r}`));
    return;
  }
  if (have.mtu !== v.mtu) {
    c.differences.push(`${name} has mtu ${have.mtu}, want ${v.mtu}`);
    c.host.push(`link set ${name} mtu ${v.mtu}`);
  }
  if (have.master !== v.master) {
    c.differences.push(`${name} is attached to ${have.master ?? 'no bridge'}, want ${v.master}`);
    c.host.push(`link set ${name} master ${v.master}`);
  }
  if (!isUp(have)) {
    c.differences.push(`${name} is down`);
    c.host.push(`link set ${name} up`);
  }
  diffAddrGenMode(have, c.host, c);
  const present = new Set(observed.fdb.filter((e) => e.mac === ZERO_MAC && e.dst !== undefined).map((e) => e.dst!));
  for (const dst of present) {
    if (!v.remotes.includes(dst)) {
      c.differences.push(`${name} floods to ${dst}, which is not a remote of the network`);
      c.fdb.push(`fdb del ${ZERO_MAC} dev ${name} dst ${dst}`);
    }
  }
  for (const dst of v.remotes) {
    if (!present.has(dst)) {
      c.differences.push(`${name} does not flood to remote ${dst}`);
      c.fdb.push(`fdb append ${ZERO_MAC} dev ${name} dst ${dst}`);
    }
  }
}

function vxlanMismatch(v: VxlanPlan, have: IpLink): string | undefined {
  const d = have.linkinfo?.info_data ?? {};
  if (d.id !== v.vni) return `has VNI ${d.id ?? 'none'}, want ${v.vni}`;
  if (d.local !== v.local) return `has local ${d.local ?? 'none'}, want ${v.local}`;
  if (d.port !== v.port) return `has port ${d.port ?? 'none'}, want ${v.port}`;
  if (v.dev !== undefined && d.link !== v.dev) return `runs over ${d.link ?? 'any device'}, want ${v.dev}`;
  return undefined;
}

/** Returns true when the namespace's device is (re)created, so everything on it starts from nothing. */
function diffLink(link: LinkPlan, desired: DesiredRouter, observed: ObservedRouter, c: RouterChanges): boolean {
  const peer = observed.ns.find((l) => l.ifname === link.peer);
  const fresh = patchFor(link.kind).diffLink(link, desired, observed, peer, c);
  if (fresh === 'conflict') return false;
  if (fresh || peer === undefined) {
    c.ns.push(`link set ${link.peer} addrgenmode none`, ...(desired.standby ? [] : [`link set ${link.peer} up`]), ...(link.address ? [`addr add ${link.address} dev ${link.peer}`] : []));
    c.ns.push(...(link.addresses6 ?? []).map((a) => addAddress6(a, link.peer)));
    return true;
  }
  diffPeer(link, peer, desired.standby, c);
  return false;
}

/** The namespace's end of an existing patch: MTU, MAC, state and addresses. */
function diffPeer(link: LinkPlan, peer: IpLink, standby: boolean, c: RouterChanges): void {
  diffAddrGenMode(peer, c.ns, c);
  if (peer.mtu !== link.mtu) {
    c.differences.push(`${link.peer} has mtu ${peer.mtu}, want ${link.mtu}`);
    c.ns.push(`link set ${link.peer} mtu ${link.mtu}`);
  }
  if (peer.address !== link.mac) {
    c.differences.push(`${link.peer} has MAC ${peer.address ?? 'none'}, want ${link.mac}`);
    c.ns.push(`link set ${link.peer} address ${link.mac}`);
  }
  if (!isUp(peer) && !standby) {
    c.differences.push(`${link.peer} is down`);
    c.ns.push(`link set ${link.peer} up`);
  }
  if (isUp(peer) && standby) {
    c.differences.push(`${link.peer} is up, but this host's router stands by`);
    c.ns.push(`link set ${link.peer} down`);
  }
  const have = (peer.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  for (const extra of have.filter((a) => a !== link.address)) {
    c.differences.push(`${link.peer} holds ${extra}, which the plan does not`);
    c.ns.push(`addr del ${extra} dev ${link.peer}`);
  }
  if (link.address && !have.includes(link.address)) {
    c.differences.push(`${link.peer} lacks ${link.address}`);
    c.ns.push(`addr add ${link.address} dev ${link.peer}`);
  }
  // An IPv4-only router's IPv6 addresses are not looked at, as before dual stack.
  if (link.addresses6 === undefined) return;
  const have6 = (peer.addr_info ?? []).filter((a) => a.family === 'inet6').map((a) => `${a.local}/${a.prefixlen}`);
  for (const extra of have6.filter((a) => !link.addresses6!.includes(a))) {
    c.differences.push(`${link.peer} holds ${extra}, which the plan does not`);
    c.ns.push(`addr del ${extra} dev ${link.peer}`);
  }
  for (const want of link.addresses6.filter((a) => !have6.includes(a))) {
    c.differences.push(`${link.peer} lacks ${want}`);
    c.ns.push(addAddress6(want, link.peer));
  }
}

/** The router is the only holder of its addresses on both segments: no DAD to wait for. */
function addAddress6(cidr: string, dev: string): string {
  return `addr add ${cidr} dev ${dev} nodad`;
}

function diffRoutes(desired: DesiredRouter, observed: ObservedRouter, recreated: Set<string>, c: RouterChanges): void {
  // Kernel-made subnet routes follow the addresses; only routes natns adds are compared.
  const present = observed.routes.filter((r) => r.protocol !== 'kernel' && !(r.dev && recreated.has(r.dev)));
  const key = (r: { dst: string; via?: string; gateway?: string; dev?: string }) => `${r.dst} via ${r.via ?? r.gateway ?? '-'} dev ${r.dev ?? '-'}`;
  // The family of a 'default' route follows its gateway, in the batch lines as in the keys.
  const wanted = new Set(desired.routes.map(key));
  // Removed before any address goes: an address's removal takes the routes through it along,
  // and deleting such a route afterwards would fail the batch ("No such process").
  const dels: string[] = [];
  for (const r of present) {
    if (!wanted.has(key(r))) {
      c.differences.push(`route ${key(r)} is not in the plan`);
      dels.push(`route del ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`);
    }
  }
  c.ns.unshift(...dels);
  const have = new Set(present.map(key));
  for (const r of desired.routes) {
    if (!have.has(key(r))) {
      if (observed.namespace && !recreated.has(r.dev)) c.differences.push(`route ${key(r)} is missing`);
      c.ns.push(`route replace ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''}`);
    }
  }
}

function diffProxyNeighbors(desired: DesiredRouter, observed: ObservedRouter, recreated: Set<string>, c: RouterChanges): void {
  const wan = desired.wan.peer;
  const have = new Set(recreated.has(wan) ? [] : observed.proxyNeighbors.filter((n) => n.dev === wan).map((n) => n.dst));
  const want = new Set(desired.proxyNeighbors);
  for (const a of have) {
    if (!want.has(a)) {
      c.differences.push(`${wan} answers ARP for ${a}, which no guest holds`);
      c.ns.push(`neigh del proxy ${a} dev ${wan}`);
    }
  }
  for (const a of want) {
    if (!have.has(a)) {
      if (observed.namespace && !recreated.has(wan)) c.differences.push(`${wan} does not answer ARP for ${a}`);
      c.ns.push(`neigh add proxy ${a} dev ${wan}`);
    }
  }
}

/**
 * The transparent proxy's fwmark rule and local route, per family; natns's are the only fwmark
 * rules in its namespace. IPv6 is looked at where it is planned (a dual-stack router) or found.
 */
function diffTproxyRouting(desired: DesiredRouter, observed: ObservedRouter, c: RouterChanges): void {
  const t = desired.tproxy;
  const v6 = (r: IpRoute) => r.pref !== undefined;
  const v4Routes = observed.tableRoutes.filter((r) => !v6(r));
  const v6Routes = observed.tableRoutes.filter(v6);
  diffTproxyFamily(t?.ipv4 === false ? undefined : t, observed.namespace, observed.rules, v4Routes, { lines: c.ns, any: '0.0.0.0/0', label: '' }, c);
  if (t?.ipv6 || observed.rules6 !== undefined || v6Routes.some(isLocalDefault)) {
    diffTproxyFamily(t?.ipv6 ? t : undefined, observed.namespace, observed.rules6 ?? [], v6Routes, { lines: c.ns6, any: '::/0', label: 'IPv6 ' }, c);
  }
}

function isLocalDefault(r: { type?: string; dst: string; dev?: string }): boolean {
  return r.type === 'local' && r.dst === 'default' && r.dev === 'lo';
}

function diffTproxyFamily(
  t: DesiredRouter['tproxy'], namespace: boolean, rules: IpRule[], tableRoutes: IpRoute[],
  f: { lines: string[]; any: string; label: string }, c: RouterChanges,
): void {
  const mark = t ? `0x${t.mark.toString(16)}` : undefined;
  for (const r of rules.filter((r) => r.fwmark !== undefined)) {
    if (r.fwmark === mark && r.table === String(t!.table)) continue;
    c.differences.push(`${f.label}rule fwmark ${r.fwmark} lookup ${r.table} is not in the plan`);
    f.lines.push(`rule del priority ${r.priority} fwmark ${r.fwmark} lookup ${r.table}`);
  }
  for (const r of tableRoutes.filter(isLocalDefault)) {
    if (t && r.table === String(t.table)) continue;
    c.differences.push(`${f.label}local route in table ${r.table} is not in the plan`);
    f.lines.push(`route del local ${f.any} dev lo table ${r.table}`);
  }
  if (!t) return;
  if (!rules.some((r) => r.fwmark === mark && r.table === String(t.table))) {
    if (namespace) c.differences.push(`${f.label}rule fwmark ${mark} lookup ${t.table} is missing`);
    f.lines.push(`rule add fwmark ${mark} lookup ${t.table}`);
  }
  if (!tableRoutes.some((r) => isLocalDefault(r) && r.table === String(t.table))) {
    if (namespace) c.differences.push(`${f.label}local route in table ${t.table} is missing`);
    f.lines.push(`route replace local ${f.any} dev lo table ${t.table}`);
  }
}
