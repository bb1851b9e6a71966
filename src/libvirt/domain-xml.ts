import { InputError, withContext } from '../errors.js';
import { formatIPv4, parseIPv4 } from '../ipv4.js';
import { printable } from '../text.js';
import { validateNetworkName, validatePoolName, validateUuid } from '../validate.js';
import { attr, child, children, namespacedChild, prefixedChildren, text, type XmlNode } from './xml.js';

export const GUEST_NS_URI = 'urn:natns:guest:1';

export interface PortForward {
  proto: 'tcp' | 'udp';
  port: number;
  toPort: number;
}

/** What one guest asks of one natns network. */
export interface GuestOnNetwork {
  network: string;
  mac: string;
  /** The reserved address (DHCP reservation, and the target of its forwards). */
  ip?: string;
  forwards: PortForward[];
  /** 1:1 NAT: a public address of its own, fixed or from a pool. */
  public?: { address?: string; pool?: string };
  /** The public address actually leased (set when the guest starts). */
  publicAddress?: string;
}

export interface GuestDefinition {
  name: string;
  uuid: string;
  /** undefined for guests without natns metadata. */
  networks: GuestOnNetwork[] | undefined;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function parsePort(value: string | undefined, what: string): number {
  if (value === undefined || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InputError(`${what}: '${printable(value ?? '')}' is not a port number (1 to 65535)`);
  }
  return Number(value);
}

export function parseProto(value: string | undefined, what: string): 'tcp' | 'udp' {
  if (value !== 'tcp' && value !== 'udp') throw new InputError(`${what}: proto must be tcp or udp, not '${printable(value ?? '')}'`);
  return value;
}

/** Read a `<domain>` element from the qemu hook's stdin. */
export function readDomain(domain: XmlNode): GuestDefinition {
  const name = text(child(domain, 'name')) ?? '';
  const meta = namespacedChild(child(domain, 'metadata'), GUEST_NS_URI, 'guest');
  if (meta === undefined) return { name, uuid: text(child(domain, 'uuid')) ?? '', networks: undefined };
  try {
    validateNetworkName(name);
    const uuid = validateUuid(text(child(domain, 'uuid')), 'domain <uuid>');
    const macs = new Map<string, string>();
    for (const iface of children(child(domain, 'devices'), 'interface')) {
      const network = attr(child(iface, 'source'), 'network');
      const mac = attr(child(iface, 'mac'), 'address')?.toLowerCase();
      if (network !== undefined && mac !== undefined && MAC.test(mac) && !macs.has(network)) macs.set(network, mac);
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
    for (const a of prefixedChildren(meta.node, meta.prefix, 'address')) {
      const e = entry(attr(a, 'network'), 'address');
      if (e.ip) throw new InputError(`two <address> elements for network ${e.network}`);
      e.ip = formatIPv4(parseIPv4(attr(a, 'ip') ?? '', `<address network="${e.network}"> ip`));
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
    for (const p of prefixedChildren(meta.node, meta.prefix, 'public')) {
      const e = entry(attr(p, 'network'), 'public');
      if (e.public) throw new InputError(`two <public> elements for network ${e.network}`);
      const address = attr(p, 'address');
      const pool = attr(p, 'pool');
      if ((address === undefined) === (pool === undefined)) throw new InputError(`<public network="${e.network}"> takes either address="..." or pool="..."`);
      e.public = address !== undefined
        ? { address: formatIPv4(parseIPv4(address, `<public network="${e.network}"> address`)) }
        : { pool: validatePoolName(pool, '<public pool>') };
    }
    for (const e of byNetwork.values()) {
      if (e.public && !e.ip) {
        throw new InputError(`a public address on network ${e.network} needs the guest's private address there: add <natns:address network="${e.network}" ip="..."/>`);
      }
      if (e.forwards.length && !e.ip) {
        throw new InputError(`forwards on network ${e.network} need the guest's address there: add <natns:address network="${e.network}" ip="..."/>`);
      }
    }
    return { name, uuid, networks: [...byNetwork.values()] };
  } catch (err) {
    throw withContext(`guest '${printable(name)}': natns metadata`, err);
  }
}
