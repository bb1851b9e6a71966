import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError, NatnsError } from '../domain/errors.js';
import {
  broadcastAddress, compareAddresses, contains, isLinkLocal, networkAddress, parseAddress, parseCidr, parsePrefixLength, subnetText,
  unusableIPv6, type Cidr,
} from '../domain/address.js';
import { printable } from '../domain/text.js';
import { validateIfName, validatePoolName } from '../domain/validate.js';
import { assertTrusted } from '../sys/trust.js';

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

export interface HostConfig {
  pools: Map<string, PoolConfig>;
}

export function parseConfig(json: string, source: string): HostConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new InputError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new InputError(`${source} must hold a JSON object like {"pools": {...}}`);
  const unknownKeys = Object.keys(raw).filter((k) => k !== 'pools');
  if (unknownKeys.length > 0) throw new InputError(`${source}: unknown setting(s) ${unknownKeys.map(printable).join(', ')}`);
  const pools = new Map<string, PoolConfig>();
  const rawPools = raw.pools ?? {};
  if (!isObject(rawPools)) throw new InputError(`${source}: "pools" must be an object of named pools`);
  for (const [name, value] of Object.entries(rawPools)) {
    pools.set(name, parsePool(name, value, `${source}: pool "${printable(name)}"`));
  }
  return { pools };
}

function parsePool(name: string, value: unknown, where: string): PoolConfig {
  validatePoolName(name, where);
  if (!isObject(value)) throw new InputError(`${where} must be an object`);
  const str = (key: string): string => {
    const v = value[key];
    if (typeof v !== 'string') throw new InputError(`${where} needs "${key}" as a string`);
    return v;
  };
  const known = new Set(['bridge', 'subnet', 'gateway', 'first', 'last', 'hostAccess', 'prefixLength']);
  const extra = Object.keys(value).filter((k) => !known.has(k));
  if (extra.length > 0) throw new InputError(`${where}: unknown key(s) ${extra.map(printable).join(', ')}`);
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
  if (hostAccess !== 'deny' && hostAccess !== 'allow') throw new InputError(`${where}: "hostAccess" must be "deny" or "allow"`);
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
  const config = main === undefined ? { pools: new Map<string, PoolConfig>() } : parseConfig(main, path);
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
    for (const [pool, value] of parseConfig(text, file).pools) {
      if (source.has(pool)) throw new InputError(`pool "${pool}" is defined twice: in ${source.get(pool)} and in ${file}`);
      source.set(pool, file);
      config.pools.set(pool, value);
    }
  }
  return config;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NatnsError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
