import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { InputError, NatnsError } from '../domain/errors.js';
import {
  broadcastAddress, compareAddresses, contains, isLinkLocal, networkAddress, parseAddress, parseCidr, parsePrefixLength, subnetText,
  unusableIPv6, type Cidr,
} from '../domain/address.js';
import { printable } from '../domain/text.js';
import { validateHostName, validateIfName, validatePoolName } from '../domain/validate.js';
import { assertTrusted } from '../sys/trust.js';
import { validateConfig, type RawConfig, type RawPool } from './schema.js';

/** An upstream address pool: addresses first..last on `bridge`, reached through `gateway`. */
export interface PoolConfig {
  name: string;
  bridge: string;
  /** The subnet itself: its network address and prefix. */
  subnet: Cidr;
  gateway: string;
  first: string;
  last: string;
  /** Whether guests may reach this host's own addresses on the upstream bridge (default: no). */
  hostAccess: 'deny' | 'allow';
  /**
   * IPv6 only: the pool hands out routed prefixes of this length (first..last are their
   * starts), for NPTv6 networks; absent: it hands out single addresses.
   */
  prefixLength?: number;
}

/** Where upstream leases live: files on this host (the default), or an etcd cluster shared by every host. */
export type IpamConfig =
  | { backend: 'files' }
  | {
    backend: 'etcd';
    /** Client URLs (origins: scheme, host and port), tried in order. */
    endpoints: string[];
    /** Every natns key starts with it; ends with '/'. */
    prefix: string;
    /** PEM files: the CA that signed the servers' certificates, and this host's client certificate and key. */
    tls?: { ca?: string; cert?: string; key?: string };
    /** How long one lease operation may wait for etcd, in milliseconds. */
    timeoutMs: number;
  };

export type EtcdConfig = Extract<IpamConfig, { backend: 'etcd' }>;

export interface HostConfig {
  /** This host's name in leases shared with other hosts (default: the machine's host name). */
  host: string;
  ipam: IpamConfig;
  pools: Map<string, PoolConfig>;
  /** This host's VXLAN tunnel address, for stretched networks whose XML (the same on every host) leaves `local` out. */
  vxlanLocal?: string;
}

export function parseConfig(json: string, source: string): HostConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new InputError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  // The shape first (types, known keys, allowed values: schema.ts), then what needs arithmetic.
  const raw = validateConfig(parsed, source);
  const pools = new Map<string, PoolConfig>();
  for (const [name, value] of Object.entries(raw.pools ?? {})) {
    pools.set(name, parsePool(name, value, `${source}: pool "${printable(name)}"`));
  }
  let host: string;
  if (raw.host === undefined) {
    host = hostname();
    if (!isHostName(host)) {
      throw new InputError(`${source}: this machine's host name '${printable(host)}' cannot name it in leases; set "host" to a name of letters, digits, '.', '_' or '-'`);
    }
  } else {
    host = validateHostName(raw.host, `${source}: "host"`);
  }
  let vxlanLocal: string | undefined;
  if (raw.vxlanLocal !== undefined) vxlanLocal = parseAddress(raw.vxlanLocal, `${source}: "vxlanLocal"`);
  return { host, ipam: parseIpam(raw.ipam, `${source}: "ipam"`), pools, ...(vxlanLocal ? { vxlanLocal } : {}) };
}

function isHostName(name: string): boolean {
  try {
    validateHostName(name, '');
    return true;
  } catch {
    return false;
  }
}

function parseIpam(value: RawConfig['ipam'], where: string): IpamConfig {
  if (value === undefined || value.backend === 'files') return { backend: 'files' };
  const endpoints = value.endpoints.map((e, i) => parseEndpoint(e, `${where}: endpoint ${i + 1}`));
  const config: EtcdConfig = { backend: 'etcd', endpoints, prefix: value.prefix ?? '/natns/', timeoutMs: Math.round((value.timeout ?? 3) * 1000) };
  if (value.tls !== undefined) config.tls = parseTls(value.tls, endpoints, `${where}: "tls"`);
  return config;
}

function parseEndpoint(value: unknown, where: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new InputError(`${where}: ${printable(JSON.stringify(value))} is not a URL like "https://etcd1.example:2379"`);
  }
  if (typeof value !== 'string' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InputError(`${where}: ${printable(JSON.stringify(value))} must be an http:// or https:// URL`);
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new InputError(`${where}: ${printable(value)} must be only scheme, host and port, like "https://etcd1.example:2379"`);
  }
  if (url.port === '') throw new InputError(`${where}: ${printable(value)} needs its port (etcd's client port is usually 2379)`);
  return url.origin;
}

function parseTls(tls: { ca?: string; cert?: string; key?: string }, endpoints: string[], where: string): { ca?: string; cert?: string; key?: string } {
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new InputError(`${where}: "cert" and "key" go together: give both or neither`);
  const plain = endpoints.find((e) => e.startsWith('http:'));
  if (plain) throw new InputError(`${where} is set but endpoint ${plain} is plain http; use https:// endpoints with TLS`);
  return Object.fromEntries(Object.entries(tls).filter(([, path]) => path !== undefined));
}

function parsePool(name: string, value: RawPool, where: string): PoolConfig {
  validatePoolName(name, where);
  const str = (key: 'bridge' | 'subnet' | 'gateway' | 'first' | 'last'): string => {
    const v = value[key];
    // first and last may be left out only by a prefix pool.
    if (v === undefined) throw new InputError(`${where}: "${key}" is missing: give the range's ${key} address, like "198.51.100.${key === 'first' ? 100 : 199}"`);
    return v;
  };
  const bridge = validateIfName(str('bridge'), `${where} bridge`);
  // The subnet says the pool's family; every other address must be of it.
  const family = str('subnet').includes(':') ? 'ipv6' : 'ipv4';
  const cidr = parseCidr(str('subnet'), `${where} subnet`, family);
  const subnet = { address: networkAddress(cidr), prefix: cidr.prefix };
  const subnetName = subnetText(subnet);
  const unusable = unusableIPv6(subnet.address);
  if (unusable) throw new InputError(`${where}: subnet ${subnetName} is ${unusable}; upstream identities must be global (or unique local) addresses`);
  if (value.prefixLength !== undefined && family === 'ipv4') throw new InputError(`${where}: "prefixLength" is for IPv6 pools of routed prefixes (NPTv6) only`);
  const prefixLength = value.prefixLength === undefined ? undefined
    : parsePrefixLength(String(value.prefixLength), `${where} prefixLength`, subnet.prefix + 1, 64);
  const gateway = parseAddress(str('gateway'), `${where} gateway`, family);
  // A prefix pool's range defaults to every prefix of its subnet.
  const lastPrefix = () => networkAddress({ address: broadcastAddress(subnet), prefix: prefixLength! });
  const first = prefixLength !== undefined && value.first === undefined ? subnet.address : parseAddress(str('first'), `${where} first`, family);
  const last = prefixLength !== undefined && value.last === undefined ? lastPrefix() : parseAddress(str('last'), `${where} last`, family);
  for (const [key, addr] of [['first', first], ['last', last]] as const) {
    if (!contains(subnet, addr)) {
      throw new InputError(`${where}: ${key} ${addr} is outside the pool's subnet ${subnetName}`);
    }
    if (prefixLength !== undefined && networkAddress({ address: addr, prefix: prefixLength }) !== addr) {
      throw new InputError(`${where}: ${key} ${addr} is not the start of a /${prefixLength}; a prefix pool hands out whole prefixes`);
    }
  }
  if (compareAddresses(first, last) > 0) throw new InputError(`${where}: first ${first} comes after last ${last}`);
  if (prefixLength !== undefined) {
    // The prefixes are routed to the routers, so the upstream router is not inside them.
    if (contains(subnet, gateway)) throw new InputError(`${where}: gateway ${gateway} lies inside the routed subnet ${subnetName}; give the upstream router's link-local or on-link address`);
    const bad = isLinkLocal(gateway) ? undefined : unusableIPv6(gateway);
    if (bad) throw new InputError(`${where}: gateway ${gateway} is ${bad}`);
  } else {
    if (!contains(subnet, gateway)) throw new InputError(`${where}: gateway ${gateway} is outside the pool's subnet ${subnetName}`);
    if (family === 'ipv4' && subnet.prefix < 31 && (first === subnet.address || last === broadcastAddress(subnet))) {
      throw new InputError(`${where}: the range ${first}-${last} includes the network or broadcast address of ${subnetName}`);
    }
    if (family === 'ipv6' && subnet.prefix < 127 && first === subnet.address) {
      throw new InputError(`${where}: the range ${first}-${last} includes the subnet-router anycast address ${subnet.address}`);
    }
    if (compareAddresses(gateway, first) >= 0 && compareAddresses(gateway, last) <= 0) {
      throw new InputError(`${where}: gateway ${gateway} lies inside the range ${first}-${last}; it must not be handed out`);
    }
  }
  const hostAccess = value.hostAccess ?? 'deny';
  return { name, bridge, subnet, gateway, first, last, hostAccess, ...(prefixLength !== undefined ? { prefixLength } : {}) };
}

/**
 * The config file plus every `config.d/*.json` beside it, so that tools (and tests) can add a
 * pool in a file of their own. A missing file or folder is an empty one: networks with a fixed
 * upstream need no pool.
 */
export function loadConfig(path: string): HostConfig {
  assertTrusted(path, 'config');
  const main = readIfExists(path);
  const config = main === undefined ? parseConfig('{}', path) : parseConfig(main, path);
  const source = new Map([...config.pools.keys()].map((name) => [name, path]));
  const dropins = join(dirname(path), 'config.d');
  assertTrusted(dropins, 'config folder');
  let names: string[] = [];
  try {
    names = readdirSync(dropins).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch {
    // No drop-in folder.
  }
  for (const name of names) {
    const file = join(dropins, name);
    assertTrusted(file, 'config');
    const text = readIfExists(file);
    if (text === undefined) continue;
    const dropin = parseConfig(text, file);
    const own = Object.keys(JSON.parse(text) as object).filter((k) => k !== 'pools');
    if (own.length > 0) throw new InputError(`${file}: ${own.map((k) => `"${k}"`).join(', ')} may be set only in ${path}; files in config.d add pools`);
    for (const [pool, value] of dropin.pools) {
      if (source.has(pool)) throw new InputError(`pool "${pool}" is defined twice: in ${source.get(pool)} and in ${file}`);
      source.set(pool, file);
      config.pools.set(pool, value);
    }
  }
  refuseOverlaps(config.pools, source);
  return config;
}

/** Two pools handing out the same address on one bridge would lease it twice. */
function refuseOverlaps(pools: Map<string, PoolConfig>, source: Map<string, string>): void {
  const list = [...pools.values()];
  for (const [i, a] of list.entries()) {
    for (const b of list.slice(i + 1)) {
      if (a.bridge !== b.bridge || compareAddresses(a.first, b.last) > 0 || compareAddresses(b.first, a.last) > 0) continue;
      const where = (p: PoolConfig) => `pool "${printable(p.name)}" (${p.first}-${p.last}, in ${source.get(p.name)})`;
      throw new InputError(`${where(a)} and ${where(b)} overlap on bridge ${a.bridge}; give each pool a range of its own`);
    }
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NatnsError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

