import { compareAddresses, contains, isHostAddress, parseAddress, parsePrefixLength, subnetText } from '../domain/address.js';
import { InputError, withContext } from '../domain/errors.js';
import type { DhcpRange, InputRule, NetworkSpec, PatchKind, TproxySpec, UpstreamSpec, VxlanSpec } from '../domain/model.js';
import { printable } from '../domain/text.js';
import {
  checkNoOverlap, checkOnLink, parsePort, parseProto, validateIfName, validateNetworkName, validatePoolName, validateUuid, wholeNumber,
} from '../domain/validate.js';
import { attr, child, children, namespacedChild, prefixedChildren, text, type XmlNode } from './xml.js';

export const NETWORK_NS_URI = 'urn:natns:network:1';

/** A libvirt network as natns sees it: `spec` only when it carries natns metadata. */
export interface LibvirtNetwork {
  name: string;
  uuid: string;
  bridge: string;
  /** undefined for networks without natns metadata, which natns leaves alone. */
  spec: NetworkSpec | undefined;
}

/** Read a `<network>` element (from hook stdin or `virsh net-dumpxml`). */
export function readNetwork(network: XmlNode): LibvirtNetwork {
  const rawName = text(child(network, 'name')) ?? '';
  const meta = namespacedChild(child(network, 'metadata'), NETWORK_NS_URI, 'nat');
  if (meta === undefined) {
    // Not natns's: its name may be anything libvirt accepts, and natns has no say about it.
    return { name: rawName, uuid: text(child(network, 'uuid')) ?? '', bridge: attr(child(network, 'bridge'), 'name') ?? '', spec: undefined };
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

function readNatSpec(nat: XmlNode, prefix: string): Omit<NetworkSpec, 'name' | 'uuid' | 'bridge'> {
  const priv = single(nat, prefix, 'private', true)!;
  const address = parseAddress(requireAttr(priv, 'private', 'address'), '<private address>');
  const privateCidr = { address, prefix: parsePrefixLength(requireAttr(priv, 'private', 'prefix'), '<private prefix>', 8, 30) };
  if (!isHostAddress(privateCidr)) {
    throw new InputError(`<private address> ${address} is the network or broadcast address of ${subnetText(privateCidr)}`);
  }
  const up = single(nat, prefix, 'upstream', true)!;
  const upstream = readUpstream(up);
  if (upstream.kind === 'fixed') checkNoOverlap(privateCidr, upstream);
  const dhcpNode = single(nat, prefix, 'dhcp', false);
  const dhcp = dhcpNode ? readDhcp(dhcpNode, privateCidr) : undefined;
  const tproxyNode = single(nat, prefix, 'tproxy', false);
  const tproxy = tproxyNode ? readTproxy(tproxyNode) : undefined;
  const patchNode = single(nat, prefix, 'patch', false);
  const patch = patchNode ? readPatch(patchNode) : undefined;
  const inputs = prefixedChildren(nat, prefix, 'input').map(readInput);
  const vxlanNode = single(nat, prefix, 'vxlan', false);
  const vxlan = vxlanNode ? readVxlan(vxlanNode) : undefined;
  return {
    private: privateCidr, upstream, ...(dhcp ? { dhcp } : {}), ...(tproxy ? { tproxy } : {}),
    ...(patch === 'macvlan' ? { patch } : {}), ...(inputs.length ? { inputs } : {}), ...(vxlan ? { vxlan } : {}),
  };
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
