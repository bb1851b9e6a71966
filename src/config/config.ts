import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError, NatnsError } from '../domain/errors.js';
import {
  broadcastAddress, compareAddresses, contains, networkAddress, parseAddress, parseCidr, subnetText, type Cidr,
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
  const known = new Set(['bridge', 'subnet', 'gateway', 'first', 'last', 'hostAccess']);
  const extra = Object.keys(value).filter((k) => !known.has(k));
  if (extra.length > 0) throw new InputError(`${where}: unknown key(s) ${extra.map(printable).join(', ')}`);
  const bridge = validateIfName(str('bridge'), `${where} bridge`);
  const cidr = parseCidr(str('subnet'), `${where} subnet`);
  const subnet = { address: networkAddress(cidr), prefix: cidr.prefix };
  const subnetName = subnetText(subnet);
  const gateway = parseAddress(str('gateway'), `${where} gateway`);
  const first = parseAddress(str('first'), `${where} first`);
  const last = parseAddress(str('last'), `${where} last`);
  for (const [key, addr] of [['gateway', gateway], ['first', first], ['last', last]] as const) {
    if (!contains(subnet, addr)) {
      throw new InputError(`${where}: ${key} ${addr} is outside the pool's subnet ${subnetName}`);
    }
  }
  if (compareAddresses(first, last) > 0) throw new InputError(`${where}: first ${first} comes after last ${last}`);
  if (subnet.prefix < 31 && (first === subnet.address || last === broadcastAddress(subnet))) {
    throw new InputError(`${where}: the range ${first}-${last} includes the network or broadcast address of ${subnetName}`);
  }
  if (compareAddresses(gateway, first) >= 0 && compareAddresses(gateway, last) <= 0) {
    throw new InputError(`${where}: gateway ${gateway} lies inside the range ${first}-${last}; it must not be handed out`);
  }
  const hostAccess = value.hostAccess ?? 'deny';
  if (hostAccess !== 'deny' && hostAccess !== 'allow') throw new InputError(`${where}: "hostAccess" must be "deny" or "allow"`);
  return { name, bridge, subnet, gateway, first, last, hostAccess };
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
