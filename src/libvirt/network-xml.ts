import {
  cidrText, compareAddresses, contains, familyOf, isHostAddress, isLinkLocal, networkAddress, parseAddress, parsePrefixLength, subnetText,
  unusableIPv6, type Cidr,
} from '../domain/address.js';
import { InputError, withContext } from '../domain/errors.js';
import type { DhcpRange, InputRule, Nat6Mode, NetworkSpec, PatchKind, TproxySpec, UpstreamSpec, UpstreamSpec6, VxlanSpec } from '../domain/model.js';
import { printable } from '../domain/text.js';
import {
  checkNoOverlap, checkOnLink, parsePort, parseProto, validateIfName, validateNetworkName, validatePoolName, validateUuid, wholeNumber,
} from '../domain/validate.js';
import { attr, child, children, namespacedChild, natnsLookalike, prefixedChildren, text, type XmlNode } from './xml.js';

export const NETWORK_NS_URI = 'urn:natns:network:1';

/** A libvirt network as natns sees it: `spec` only when it carries natns metadata. */
export interface LibvirtNetwork {
  name: string;
  uuid: string;
  bridge: string;
  /** undefined for networks without natns metadata, which natns leaves alone. */
  spec: NetworkSpec | undefined;
  /** Without spec: a metadata element that looks meant for natns but is not one it reads. */
  lookalike?: string;
}

/** Read a `<network>` element (from hook stdin or `virsh net-dumpxml`). */
export function readNetwork(network: XmlNode): LibvirtNetwork {
  const rawName = text(child(network, 'name')) ?? '';
  const meta = namespacedChild(child(network, 'metadata'), NETWORK_NS_URI, 'nat');
  if (meta === undefined) {
    // Not natns's: its name may be anything libvirt accepts, and natns has no say about it.
    const lookalike = natnsLookalike(child(network, 'metadata'), NETWORK_NS_URI);
    return { name: rawName, uuid: text(child(network, 'uuid')) ?? '', bridge: attr(child(network, 'bridge'), 'name') ?? '', spec: undefined, ...(lookalike ? { lookalike } : {}) };
  }
  const name = validateNetworkName(rawName);
  try {
    const uuid = validateUuid(text(child(network, 'uuid')), 'network <uuid>');
    const bridge = validateIfName(attr(child(network, 'bridge'), 'name'), '<bridge name>');
    if (children(network, 'ip').length > 0) {
      throw new InputError(
        'the network has an <ip> element, so libvirt would put that address on the host itself; a natns network must have none (natns holds the gateway inside its namespace)',
      );
    }
    if (children(network, 'forward').length > 0) {
      throw new InputError('the network has a <forward> element; a natns network must be isolated (no <forward>): natns does the forwarding');
    }
    return { name, uuid, bridge, spec: { name, uuid, bridge, ...readNatSpec(meta.node, meta.prefix) } };
  } catch (err) {
    throw withContext(`network '${name}': natns metadata`, err);
  }
}

function single(node: XmlNode, prefix: string, local: string, required: boolean): XmlNode | undefined {
  const found = prefixedChildren(node, prefix, local);
  if (found.length > 1) throw new InputError(`<${local}> appears ${found.length} times; give it once`);
  if (required && found.length === 0) throw new InputError(`<${local}> is missing`);
  return found[0];
}

function requireAttr(node: XmlNode, element: string, name: string): string {
  const value = attr(node, name);
  if (value === undefined) throw new InputError(`<${element}> needs the attribute ${name}="..."`);
  return value;
}

/**
 * One <private> per family, and one <upstream> per <private>: the n-th <upstream> serves the
 * n-th <private>'s family, so a pool's family can be checked against its element.
 */
function readNatSpec(nat: XmlNode, prefix: string): Omit<NetworkSpec, 'name' | 'uuid' | 'bridge'> {
  const privs = prefixedChildren(nat, prefix, 'private');
  const ups = prefixedChildren(nat, prefix, 'upstream');
  if (privs.length === 0) throw new InputError('<private> is missing');
  if (ups.length === 0) throw new InputError('<upstream> is missing');
  const sides = privs.map(readPrivate);
  for (const family of ['ipv4', 'ipv6'] as const) {
    const n = sides.filter((c) => familyOf(c.address) === family).length;
    if (n > 1) throw new InputError(`<private> appears ${n} times for ${family === 'ipv4' ? 'IPv4' : 'IPv6'}; give one per family`);
  }
  if (ups.length !== privs.length) {
    throw new InputError(`there are ${privs.length} <private> and ${ups.length} <upstream> elements; give one <upstream> per <private>, in the same order`);
  }
  const v4 = sides.findIndex((c) => familyOf(c.address) === 'ipv4');
  const v6 = sides.findIndex((c) => familyOf(c.address) === 'ipv6');
  // An IPv6-only network has no IPv4 side at all.
  const privateCidr = v4 < 0 ? undefined : sides[v4]!;
  const upstream = v4 < 0 ? undefined : readUpstream(ups[v4]!);
  if (privateCidr && upstream?.kind === 'fixed') checkNoOverlap(privateCidr, upstream);
  const ipv4 = privateCidr && upstream ? { private: privateCidr, upstream } : undefined;
  const ipv6 = v6 < 0 ? undefined : { private6: sides[v6]!, upstream6: readUpstream6(ups[v6]!, sides[v6]!) };
  const dhcpNode = single(nat, prefix, 'dhcp', false);
  if (dhcpNode && !privateCidr) {
    throw new InputError('<dhcp> hands out IPv4 addresses, but the network has no IPv4 <private>; its IPv6 guests configure themselves from its router advertisements');
  }
  const dhcp = dhcpNode ? readDhcp(dhcpNode, privateCidr!) : undefined;
  const tproxyNode = single(nat, prefix, 'tproxy', false);
  const tproxy = tproxyNode ? readTproxy(tproxyNode) : undefined;
  const patchNode = single(nat, prefix, 'patch', false);
  const patch = patchNode ? readPatch(patchNode) : undefined;
  const inputs = prefixedChildren(nat, prefix, 'input').map(readInput);
  const vxlanNode = single(nat, prefix, 'vxlan', false);
  const vxlan = vxlanNode ? readVxlan(vxlanNode) : undefined;
  // Failover announces the gateway by gratuitous ARP only, and a standby's down links would drop
  // its IPv6 addresses: until both are handled, a stretch carries IPv4 alone.
  if (vxlan && ipv6) throw new InputError('<vxlan> stretches IPv4-only networks for now; remove the IPv6 <private> and <upstream>, or the <vxlan>');
  return {
    ...(ipv4 ?? {}), ...(ipv6 ?? {}), ...(dhcp ? { dhcp } : {}), ...(tproxy ? { tproxy } : {}),
    ...(patch === 'macvlan' ? { patch } : {}), ...(inputs.length ? { inputs } : {}), ...(vxlan ? { vxlan } : {}),
  };
}

function readPrivate(priv: XmlNode): Cidr {
  const text = requireAttr(priv, 'private', 'address');
  if (!text.includes(':')) {
    const address = parseAddress(text, '<private address>');
    const cidr = { address, prefix: parsePrefixLength(requireAttr(priv, 'private', 'prefix'), '<private prefix>', 8, 30) };
    if (!isHostAddress(cidr)) throw new InputError(`<private address> ${address} is the network or broadcast address of ${subnetText(cidr)}`);
    return cidr;
  }
  const address = parseAddress(text, '<private address>', 'ipv6');
  const unusable = unusableIPv6(address);
  if (unusable) throw new InputError(`<private address> ${address} is ${unusable}; give the IPv6 gateway a unique local (fd00::/8) or global address`);
  const prefix = parsePrefixLength(requireAttr(priv, 'private', 'prefix'), '<private prefix>', 1, 128);
  if (prefix !== 64) {
    throw new InputError(`<private prefix> for ${address} is /${prefix}, but guests configure IPv6 by SLAAC, which needs a /64: use prefix="64"`);
  }
  if (address === networkAddress({ address, prefix })) {
    throw new InputError(`<private address> ${address} is the subnet-router anycast address of ${subnetText({ address, prefix })}; give the gateway a host address like ${networkAddress({ address, prefix })}1`);
  }
  return { address, prefix };
}

function readVxlan(node: XmlNode): VxlanSpec {
  const vni = wholeNumber(requireAttr(node, 'vxlan', 'vni'), '<vxlan vni>', 1, 16777215);
  const list = requireAttr(node, 'vxlan', 'remotes').trim();
  if (list === '') throw new InputError('<vxlan remotes> is empty; list every host\'s VTEP address, separated by spaces');
  const remotes = [...new Set(list.split(/\s+/).map((a) => parseAddress(a, '<vxlan remotes>')))].sort(compareAddresses);
  if (remotes.length > 64) throw new InputError('<vxlan remotes> lists more than 64 hosts');
  const localText = attr(node, 'local');
  const local = localText === undefined ? undefined : parseAddress(localText, '<vxlan local>');
  const devText = attr(node, 'dev');
  const dev = devText === undefined ? undefined : validateIfName(devText, '<vxlan dev>');
  const port = parsePort(attr(node, 'port') ?? '4789', '<vxlan port>');
  return { vni, remotes, ...(local ? { local } : {}), ...(dev ? { dev } : {}), port };
}

function readPatch(node: XmlNode): PatchKind {
  const type = requireAttr(node, 'patch', 'type');
  if (type !== 'veth' && type !== 'macvlan') throw new InputError(`<patch type> must be veth or macvlan, not '${printable(type)}'`);
  return type;
}

function readInput(node: XmlNode): InputRule {
  const proto = parseProto(attr(node, 'proto') ?? 'tcp', '<input>');
  const ports = readPorts(requireAttr(node, 'input', 'ports'), '<input ports>');
  const from = attr(node, 'from') ?? 'lan';
  if (from !== 'lan' && from !== 'wan' && from !== 'any') throw new InputError(`<input from> must be lan, wan or any, not '${printable(from)}'`);
  return { proto, ports, from };
}

function readPorts(text: string, what: string): number[] {
  const ports = [...new Set(text.split(',').map((p) => parsePort(p.trim(), what)))].sort((a, b) => a - b);
  if (ports.length > 64) throw new InputError(`${what} lists more than 64 ports`);
  return ports;
}

function readTproxy(node: XmlNode): TproxySpec {
  const proto = parseProto(attr(node, 'proto') ?? 'tcp', '<tproxy>');
  const ports = readPorts(requireAttr(node, 'tproxy', 'ports'), '<tproxy ports>');
  const toPort = parsePort(requireAttr(node, 'tproxy', 'to-port'), '<tproxy to-port>');
  const mark = wholeNumber(attr(node, 'mark') ?? '1', '<tproxy mark>', 1, 0xffffffff);
  const table = wholeNumber(attr(node, 'table') ?? '100', '<tproxy table>', 1, 0x7fffffff);
  if (table >= 253 && table <= 255) throw new InputError(`<tproxy table> ${table} is one of the kernel's own tables (default, main, local); pick another`);
  return { proto, ports, toPort, mark, table };
}

function readDhcp(node: XmlNode, priv: { address: string; prefix: number }): DhcpRange {
  const start = parseAddress(requireAttr(node, 'dhcp', 'start'), '<dhcp start>');
  const end = parseAddress(requireAttr(node, 'dhcp', 'end'), '<dhcp end>');
  const subnet = subnetText(priv);
  for (const [what, a] of [['start', start], ['end', end]] as const) {
    if (!contains(priv, a) || !isHostAddress({ address: a, prefix: priv.prefix })) {
      throw new InputError(`<dhcp ${what}> ${a} is not a host address of the private subnet ${subnet}`);
    }
  }
  if (compareAddresses(start, end) > 0) throw new InputError(`<dhcp> start ${start} comes after end ${end}`);
  if (compareAddresses(priv.address, start) >= 0 && compareAddresses(priv.address, end) <= 0) {
    throw new InputError(`<dhcp> range ${start}-${end} includes the private gateway ${priv.address}`);
  }
  return { start, end };
}

function readUpstream(up: XmlNode): UpstreamSpec {
  if (attr(up, 'mode') !== undefined) throw new InputError('<upstream mode> applies to the IPv6 <upstream> only (nat66 or nptv6)');
  const given = attr(up, 'address');
  if (given?.includes(':')) {
    throw new InputError(`<upstream address> ${printable(given)} is IPv6, but this <upstream> serves the IPv4 <private>; give one <upstream> per <private>, in the same order`);
  }
  const pool = attr(up, 'pool');
  const fixedAttrs = ['bridge', 'address', 'prefix', 'gateway'].filter((a) => attr(up, a) !== undefined);
  if (pool !== undefined) {
    if (fixedAttrs.length > 0) {
      throw new InputError(`<upstream> takes either pool="..." or bridge/address/prefix/gateway, not both (found pool and ${fixedAttrs.join(', ')})`);
    }
    return { kind: 'pool', pool: validatePoolName(pool, '<upstream pool>') };
  }
  if (fixedAttrs.length === 0) {
    throw new InputError('<upstream> needs pool="NAME" (from /etc/natns/config.json) or bridge, address, prefix and gateway');
  }
  const bridge = validateIfName(requireAttr(up, 'upstream', 'bridge'), '<upstream bridge>');
  const address = parseAddress(requireAttr(up, 'upstream', 'address'), '<upstream address>');
  const prefix = parsePrefixLength(requireAttr(up, 'upstream', 'prefix'), '<upstream prefix>', 1, 32);
  const gateway = parseAddress(requireAttr(up, 'upstream', 'gateway'), '<upstream gateway>');
  checkOnLink(address, prefix, gateway, 'upstream');
  return { kind: 'fixed', bridge, address, prefix, gateway };
}

/**
 * The IPv6 <upstream>: a pool (its family is checked when it is leased from) or a fixed
 * address. nat66: address/prefix is the router's address on the upstream link. nptv6: it is the
 * routed /64 the private /64 is translated to. A link-local gateway (the usual IPv6 next hop) is
 * always on-link.
 */
function readUpstream6(up: XmlNode, priv: Cidr): UpstreamSpec6 {
  const modeText = attr(up, 'mode') ?? 'nat66';
  if (modeText !== 'nat66' && modeText !== 'nptv6') throw new InputError(`<upstream mode> must be nat66 or nptv6, not '${printable(modeText)}'`);
  const mode: Nat6Mode = modeText;
  const pool = attr(up, 'pool');
  const fixedAttrs = ['bridge', 'address', 'prefix', 'gateway'].filter((a) => attr(up, a) !== undefined);
  if (pool !== undefined) {
    if (fixedAttrs.length > 0) {
      throw new InputError(`<upstream> takes either pool="..." or bridge/address/prefix/gateway, not both (found pool and ${fixedAttrs.join(', ')})`);
    }
    return { kind: 'pool', pool: validatePoolName(pool, '<upstream pool>'), mode };
  }
  if (fixedAttrs.length === 0) {
    throw new InputError('the IPv6 <upstream> needs pool="NAME" (from /etc/natns/config.json) or bridge, address, prefix and gateway');
  }
  const bridge = validateIfName(requireAttr(up, 'upstream', 'bridge'), '<upstream bridge>');
  const addressText = requireAttr(up, 'upstream', 'address');
  if (!addressText.includes(':')) {
    throw new InputError(`<upstream address> ${printable(addressText)} is IPv4, but this <upstream> serves the IPv6 <private> ${cidrText(priv)}; give one <upstream> per <private>, in the same order`);
  }
  const address = parseAddress(addressText, '<upstream address>', 'ipv6');
  const prefix = parsePrefixLength(requireAttr(up, 'upstream', 'prefix'), '<upstream prefix>', 1, 128);
  const gateway = parseAddress(requireAttr(up, 'upstream', 'gateway'), '<upstream gateway>', 'ipv6');
  const unusable = unusableIPv6(address);
  if (unusable) throw new InputError(`<upstream address> ${address} is ${unusable}; an upstream identity must be a global (or unique local) address`);
  const badGateway = isLinkLocal(gateway) ? undefined : unusableIPv6(gateway);
  if (badGateway) throw new InputError(`<upstream gateway> ${gateway} is ${badGateway}; give the upstream router's link-local or global address`);
  const own = { address, prefix };
  if (mode === 'nptv6') {
    if (prefix !== priv.prefix) throw new InputError(`<upstream prefix> /${prefix}: NPTv6 translates the private /${priv.prefix} to a prefix of the same length`);
    if (address !== networkAddress(own)) throw new InputError(`<upstream address> ${address} is not the start of a /${prefix}; with mode="nptv6" give the prefix, like ${networkAddress(own)}`);
    if (contains(own, gateway)) throw new InputError(`<upstream gateway> ${gateway} lies inside the routed prefix ${subnetText(own)}; give the upstream router's link-local or on-link address`);
  } else {
    if (!isLinkLocal(gateway)) checkOnLink(address, prefix, gateway, 'upstream');
    if (address === networkAddress(own) && prefix < 127) throw new InputError(`<upstream address> ${address} is the subnet-router anycast address of ${subnetText(own)}`);
  }
  checkNoOverlap(priv, own);
  return { kind: 'fixed', bridge, address, prefix, gateway, mode };
}
