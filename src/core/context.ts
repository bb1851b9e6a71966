import { join } from 'node:path';
import { loadConfig, type HostConfig } from '../config/config.js';
import type { AdminForward, GuestRecord, PortRecord } from '../domain/model.js';
import { routerNames, type RouterNames } from '../domain/names.js';
import type { Ipam } from '../ipam/ipam.js';
import { selectIpam } from '../ipam/select.js';
import { Netns } from '../kernel/netns.js';
import { RecordStore } from '../state/records.js';
import { badFiles, type BadFiles } from '../sys/bad-files.js';
import { ensureDir } from '../sys/files.js';
import { JsonDir } from '../sys/json-dir.js';
import { withLock } from '../sys/lock.js';
import { paths } from '../sys/paths.js';
import { assertTrusted } from '../sys/trust.js';

/** Everything natns keeps for one network, by its name and UUID: locks, files and kernel names. */
export interface NetworkHandle {
  uuid: string;
  name: string;
  names: RouterNames;
  netns: Netns;
  /** The nft script natns last applied to the router. */
  nftFile: string;
  /** dnsmasq's config, hosts, leases and pid. */
  dhcpDir: string;
  /** Guest interfaces plugged into the network, by port UUID. */
  ports: JsonDir<PortRecord>;
  /** One network's hooks and commands never overlap. */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** Where one natns process finds its config and state; tests build their own. */
export interface Context {
  config: () => HostConfig;
  stateDir: string;
  records: RecordStore;
  ipam: Ipam;
  /** Running guests with natns metadata, by guest UUID. */
  guests: JsonDir<GuestRecord>;
  /** Admin forwards, by network UUID. */
  adminForwards: JsonDir<AdminForward[]>;
  network(net: { uuid: string; name: string }): NetworkHandle;
  /** Guest starts and stops, and admin forward changes: short and rare, one lock keeps port checks race-free. */
  withGuestsLock<T>(fn: () => Promise<T>): Promise<T>;
  /** State files that readers skipped because they cannot be used; reported by the caller. */
  badFiles: BadFiles;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isGuest = (v: unknown) => isObject(v) && typeof v.uuid === 'string' && typeof v.name === 'string' && Array.isArray(v.networks);
const isPort = (v: unknown) => isObject(v) && typeof v.vm === 'string' && typeof v.mac === 'string';

export function makeContext(stateDir = paths.state(), configPath = paths.config(), bad: BadFiles = badFiles): Context {
  assertTrusted(stateDir, 'state folder');
  // Others may pass through (dnsmasq, as nobody, to its own folder) but not list; below it, root only.
  ensureDir(stateDir, 0o711);
  let config: HostConfig | undefined;
  const loaded = () => (config ??= loadConfig(configPath));
  const lockDir = join(stateDir, 'locks');
  return {
    config: loaded,
    stateDir,
    records: new RecordStore(join(stateDir, 'networks'), bad),
    ipam: selectIpam(loaded, stateDir, bad),
    guests: new JsonDir(join(stateDir, 'guests'), { bad, kind: 'guest', valid: isGuest }),
    adminForwards: new JsonDir(join(stateDir, 'forwards'), { bad, kind: 'forwards', valid: Array.isArray }),
    network: ({ uuid, name }) => {
      const names = routerNames(name, uuid);
      return {
        uuid, name, names,
        netns: new Netns(names.namespace),
        nftFile: join(stateDir, 'nft', `${uuid}.nft`),
        dhcpDir: join(stateDir, 'dhcp', uuid),
        ports: new JsonDir(join(stateDir, 'ports', uuid), { bad, kind: 'port', valid: isPort }),
        withLock: (fn) => withLock(join(lockDir, `network-${uuid}.lock`), fn),
      };
    },
    withGuestsLock: (fn) => withLock(join(lockDir, 'guests.lock'), fn),
    badFiles: bad,
  };
}
