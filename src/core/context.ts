import { join } from 'node:path';
import { loadConfig, type HostConfig } from '../config/config.js';
import { LeaseStore } from '../ipam/leases.js';
import { paths } from '../paths.js';
import type { AdminForward, GuestRecord, PortRecord } from '../state/guests.js';
import { JsonDir } from '../state/json-dir.js';
import { RecordStore } from '../state/records.js';
import { assertTrusted } from '../state/trust.js';

/** Where one natns process finds its config and state; tests build their own. */
export interface Context {
  config: () => HostConfig;
  stateDir: string;
  records: RecordStore;
  leases: LeaseStore;
  /** Running guests with natns metadata, by guest UUID. */
  guests: JsonDir<GuestRecord>;
  /** Admin forwards, by network UUID. */
  adminForwards: JsonDir<AdminForward[]>;
  /** Guest interfaces plugged into a network, by network UUID. */
  ports: (networkUuid: string) => JsonDir<PortRecord>;
  lockDir: string;
  nftFile: (uuid: string) => string;
  dhcpDir: (uuid: string) => string;
}

export function makeContext(stateDir = paths.state(), configPath = paths.config()): Context {
  assertTrusted(stateDir, 'state folder');
  let config: HostConfig | undefined;
  return {
    config: () => (config ??= loadConfig(configPath)),
    stateDir,
    records: new RecordStore(join(stateDir, 'networks')),
    leases: new LeaseStore(join(stateDir, 'leases')),
    guests: new JsonDir(join(stateDir, 'guests')),
    adminForwards: new JsonDir(join(stateDir, 'forwards')),
    ports: (uuid) => new JsonDir(join(stateDir, 'ports', uuid)),
    lockDir: join(stateDir, 'locks'),
    nftFile: (uuid) => join(stateDir, 'nft', `${uuid}.nft`),
    dhcpDir: (uuid) => join(stateDir, 'dhcp', uuid),
  };
}
