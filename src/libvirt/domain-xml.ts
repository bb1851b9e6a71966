import { parseAddress } from '../domain/address.js';
import { InputError, withContext } from '../domain/errors.js';
import type { GuestOnNetwork, GuestSpec } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { macOrUndefined, parsePort, parseProto, validateNetworkName, validatePoolName, validateUuid } from '../domain/validate.js';
import { attr, child, children, namespacedChild, prefixedChildren, text, type XmlNode } from './xml.js';

export const GUEST_NS_URI = 'urn:natns:guest:1';

/** A libvirt domain as natns sees it: `spec` only when it carries natns metadata. */
export interface LibvirtDomain {
  name: string;
  uuid: string;
  spec: GuestSpec | undefined;
}

/** Read a `<domain>` element from the qemu hook's stdin. */
export function readDomain(domain: XmlNode): LibvirtDomain {
  const name = text(child(domain, 'name')) ?? '';
  const meta = namespacedChild(child(domain, 'metadata'), GUEST_NS_URI, 'guest');
  if (meta === undefined) return { name, uuid: text(child(domain, 'uuid')) ?? '', spec: undefined };
  try {
    validateNetworkName(name);
    const uuid = validateUuid(text(child(domain, 'uuid')), 'domain <uuid>');
    const macs = new Map<string, string>();
    for (const iface of children(child(domain, 'devices'), 'interface')) {
      const network = attr(child(iface, 'source'), 'network');
      const mac = macOrUndefined(attr(child(iface, 'mac'), 'address'));
      if (network !== undefined && mac !== undefined && !macs.has(network)) macs.set(network, mac);
    }
    const byNetwork = new Map<string, GuestOnNetwork>();
    const entry = (network: string | undefined, element: string): GuestOnNetwork => {
      if (network === undefined) throw new InputError(`<${element}> needs network="..."`);
      const net = validateNetworkName(network);
      const mac = macs.get(net);
      if (!mac) throw new InputError(`<${element} network="${net}"> but the guest has no interface with a MAC address on network ${net}`);
      let e = byNetwork.get(net);
      if (!e) byNetwork.set(net, (e = { network: net, mac, forwards: [] }));
      return e;
    };
    // One address per family and network: a dual-stack guest names its IPv4 and IPv6 reservations.
    for (const a of prefixedChildren(meta.node, meta.prefix, 'address')) {
      const e = entry(attr(a, 'network'), 'address');
      const ip = attr(a, 'ip') ?? '';
      const v6 = ip.includes(':');
      if (v6 ? e.ip6 : e.ip) throw new InputError(`two IPv${v6 ? 6 : 4} <address> elements for network ${e.network}`);
      const parsed = parseAddress(ip, `<address network="${e.network}"> ip`, v6 ? 'ipv6' : 'ipv4');
      if (v6) e.ip6 = parsed;
      else e.ip = parsed;
    }
    for (const f of prefixedChildren(meta.node, meta.prefix, 'forward')) {
      const e = entry(attr(f, 'network'), 'forward');
      const proto = parseProto(attr(f, 'proto') ?? 'tcp', '<forward>');
      const port = parsePort(attr(f, 'port'), '<forward port>');
      const toPort = attr(f, 'to-port') === undefined ? port : parsePort(attr(f, 'to-port'), '<forward to-port>');
      if (e.forwards.some((x) => x.proto === proto && x.port === port)) {
        throw new InputError(`${proto} port ${port} on network ${e.network} is forwarded twice`);
      }
      e.forwards.push({ proto, port, toPort });
    }
    // One <public> per family: an address says its family; a pool's is sorted out at the guest's start.
    const pools: { e: GuestOnNetwork; pool: string }[] = [];
    for (const p of prefixedChildren(meta.node, meta.prefix, 'public')) {
      const e = entry(attr(p, 'network'), 'public');
      const address = attr(p, 'address');
      const pool = attr(p, 'pool');
      if ((address === undefined) === (pool === undefined)) throw new InputError(`<public network="${e.network}"> takes either address="..." or pool="..."`);
      if (pool !== undefined) {
        pools.push({ e, pool: validatePoolName(pool, '<public pool>') });
        continue;
      }
      const v6 = address!.includes(':');
      if (v6 ? e.public6 : e.public) throw new InputError(`two IPv${v6 ? 6 : 4} <public> elements for network ${e.network}`);
      const parsed = { address: parseAddress(address!, `<public network="${e.network}"> address`, v6 ? 'ipv6' : 'ipv4') };
      if (v6) e.public6 = parsed;
      else e.public = parsed;
    }
    for (const { e, pool } of pools) {
      if (e.public && e.public6) throw new InputError(`more than two <public> elements for network ${e.network}; give one per family`);
      if (e.public) e.public6 = { pool };
      else e.public = { pool };
    }
    for (const e of byNetwork.values()) {
      if (e.public6?.address && !e.ip6) {
        throw new InputError(`a public IPv6 address on network ${e.network} needs the guest's private IPv6 address there: add <natns:address network="${e.network}" ip="fd00::..."/>`);
      }
      if ((e.public?.address && !e.ip) || ((e.public || e.public6) && !e.ip && !e.ip6)) {
        throw new InputError(`a public address on network ${e.network} needs the guest's private address there: add <natns:address network="${e.network}" ip="..."/>`);
      }
      if (e.forwards.length && !e.ip && !e.ip6) {
        throw new InputError(`forwards on network ${e.network} need the guest's address there: add <natns:address network="${e.network}" ip="..."/>`);
      }
    }
    return { name, uuid, spec: { name, uuid, networks: [...byNetwork.values()] } };
  } catch (err) {
    throw withContext(`guest '${printable(name)}': natns metadata`, err);
  }
}
