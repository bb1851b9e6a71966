import { InputError, withContext } from '../errors.js';
import {
  broadcastOf, inSubnet, isHostAddress, networkOf, parseIPv4, parsePrefix, subnetsOverlap, formatCidr, formatIPv4,
} from '../ipv4.js';
import { printable } from '../text.js';
import { validateIfName, validateNetworkName, validatePoolName, validateUuid } from '../validate.js';
import { parsePort, parseProto } from './domain-xml.js';
import { attr, child, children, namespacedChild, prefixedChildren, text, type XmlNode } from './xml.js';

export const NETWORK_NS_URI = 'urn:natns:network:1';

export type UpstreamSpec =
  | { kind: 'pool'; pool: string }
  | { kind: 'fixed'; bridge: string; address: number; prefix: number; gateway: number };

/** What the natns metadata of one network asks for, validated. */
export interface NatSpec {
  private: { address: number; prefix: number };
  upstream: UpstreamSpec;
  /** A DHCP range served by dnsmasq inside the namespace; absent: no DHCP. */
  dhcp?: { start: number; end: number };
  tproxy?: TproxySpec;
  /** How the namespace joins the two bridges; absent: veth pairs. */
  patch?: PatchKind;
}

/**
 * veth: a veth pair per side, its host end a port of the bridge (visible and tcpdump-able on
 * the host). macvlan: a macvlan of each bridge (or, upstream, of a NIC) moved into the namespace,
 * one hop less per packet; the host itself cannot reach a macvlan's addresses.
 */
export type PatchKind = 'veth' | 'macvlan';

/** Divert guests' traffic to these ports to a transparent proxy listening in the namespace. */
export interface TproxySpec {
  proto: 'tcp' | 'udp';
  ports: number[];
  toPort: number;
  mark: number;
  table: number;
}

export interface NetworkDefinition {
  name: string;
  uuid: string;
  /** undefined for networks without natns metadata, which natns leaves alone. */
  nat: NatSpec | undefined;
  bridge: string;
}

/** Read a `<network>` element (from hook stdin or `virsh net-dumpxml`). */
export function readNetwork(network: XmlNode): NetworkDefinition {
  const name = validateNetworkName(text(child(network, 'name')));
  const meta = namespacedChild(child(network, 'metadata'), NETWORK_NS_URI, 'nat');
  if (meta === undefined) {
    return { name, uuid: text(child(network, 'uuid')) ?? '', bridge: attr(child(network, 'bridge'), 'name') ?? '', nat: undefined };
  }
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
    return { name, uuid, bridge, nat: readNatSpec(meta.node, meta.prefix) };
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

function readNatSpec(nat: XmlNode, prefix: string): NatSpec {
  const priv = single(nat, prefix, 'private', true)!;
  const address = parseIPv4(requireAttr(priv, 'private', 'address'), '<private address>');
  const privPrefix = parsePrefix(requireAttr(priv, 'private', 'prefix'), '<private prefix>', 8, 30);
  if (!isHostAddress(address, privPrefix)) {
    throw new InputError(`<private address> ${formatIPv4(address)} is the network or broadcast address of ${formatCidr(networkOf(address, privPrefix), privPrefix)}`);
  }
  const up = single(nat, prefix, 'upstream', true)!;
  const upstream = readUpstream(up);
  if (upstream.kind === 'fixed' && subnetsOverlap(address, privPrefix, upstream.address, upstream.prefix)) {
    throw new InputError(
      `private subnet ${formatCidr(networkOf(address, privPrefix), privPrefix)} overlaps upstream subnet ${formatCidr(networkOf(upstream.address, upstream.prefix), upstream.prefix)}; the namespace could not route between them`,
    );
  }
  const dhcpNode = single(nat, prefix, 'dhcp', false);
  const dhcp = dhcpNode ? readDhcp(dhcpNode, address, privPrefix) : undefined;
  const tproxyNode = single(nat, prefix, 'tproxy', false);
  const tproxy = tproxyNode ? readTproxy(tproxyNode) : undefined;
  const patchNode = single(nat, prefix, 'patch', false);
  const patch = patchNode ? readPatch(patchNode) : undefined;
  return {
    private: { address, prefix: privPrefix }, upstream, ...(dhcp ? { dhcp } : {}), ...(tproxy ? { tproxy } : {}),
    ...(patch === 'macvlan' ? { patch } : {}),
  };
}

function readPatch(node: XmlNode): PatchKind {
  const type = requireAttr(node, 'patch', 'type');
  if (type !== 'veth' && type !== 'macvlan') throw new InputError(`<patch type> must be veth or macvlan, not '${printable(type)}'`);
  return type;
}

function readTproxy(node: XmlNode): TproxySpec {
  const proto = parseProto(attr(node, 'proto') ?? 'tcp', '<tproxy>');
  const portsText = requireAttr(node, 'tproxy', 'ports');
  const ports = [...new Set(portsText.split(',').map((p) => parsePort(p.trim(), '<tproxy ports>')))].sort((a, b) => a - b);
  if (ports.length > 64) throw new InputError('<tproxy ports> lists more than 64 ports');
  const toPort = parsePort(requireAttr(node, 'tproxy', 'to-port'), '<tproxy to-port>');
  const mark = wholeNumber(attr(node, 'mark') ?? '1', '<tproxy mark>', 1, 0xffffffff);
  const table = wholeNumber(attr(node, 'table') ?? '100', '<tproxy table>', 1, 0x7fffffff);
  if (table >= 253 && table <= 255) throw new InputError(`<tproxy table> ${table} is one of the kernel's own tables (default, main, local); pick another`);
  return { proto, ports, toPort, mark, table };
}

function wholeNumber(text: string, what: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InputError(`${what}: '${printable(text)}' must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

function readDhcp(node: XmlNode, gateway: number, prefix: number): { start: number; end: number } {
  const start = parseIPv4(requireAttr(node, 'dhcp', 'start'), '<dhcp start>');
  const end = parseIPv4(requireAttr(node, 'dhcp', 'end'), '<dhcp end>');
  const subnet = formatCidr(networkOf(gateway, prefix), prefix);
  for (const [what, a] of [['start', start], ['end', end]] as const) {
    if (!inSubnet(a, gateway, prefix) || !isHostAddress(a, prefix)) {
      throw new InputError(`<dhcp ${what}> ${formatIPv4(a)} is not a host address of the private subnet ${subnet}`);
    }
  }
  if (start > end) throw new InputError(`<dhcp> start ${formatIPv4(start)} comes after end ${formatIPv4(end)}`);
  if (gateway >= start && gateway <= end) {
    throw new InputError(`<dhcp> range ${formatIPv4(start)}-${formatIPv4(end)} includes the private gateway ${formatIPv4(gateway)}`);
  }
  return { start, end };
}

function readUpstream(up: XmlNode): UpstreamSpec {
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
  const address = parseIPv4(requireAttr(up, 'upstream', 'address'), '<upstream address>');
  const prefix = parsePrefix(requireAttr(up, 'upstream', 'prefix'), '<upstream prefix>', 1, 32);
  const gateway = parseIPv4(requireAttr(up, 'upstream', 'gateway'), '<upstream gateway>');
  checkOnLink(address, prefix, gateway, 'upstream');
  return { kind: 'fixed', bridge, address, prefix, gateway };
}

/** The kernel's "Nexthop has invalid gateway" / "Invalid scope", said before we touch the kernel. */
export function checkOnLink(address: number, prefix: number, gateway: number, what: string): void {
  const subnet = formatCidr(networkOf(address, prefix), prefix);
  if (!inSubnet(gateway, address, prefix)) {
    throw new InputError(`${what} gateway ${formatIPv4(gateway)} is not on-link for ${formatCidr(address, prefix)}: it must lie inside ${subnet}`);
  }
  if (gateway === address) throw new InputError(`${what} address ${formatIPv4(address)} is the same as its gateway`);
  if (!isHostAddress(address, prefix)) {
    throw new InputError(`${what} address ${formatIPv4(address)} is the network or broadcast address of ${subnet}`);
  }
  if (prefix < 31 && gateway === broadcastOf(gateway, prefix)) {
    throw new InputError(`${what} gateway ${formatIPv4(gateway)} is the broadcast address of ${subnet}`);
  }
}
