import { join } from 'node:path';
import { loadConfig, type HostConfig } from '../config/config.js';
import { LeaseStore } from '../ipam/leases.js';
import { paths } from '../paths.js';
import { RecordStore } from '../state/records.js';

/** Where one natns process finds its config and state; tests build their own. */
export interface Context {
  config: () => HostConfig;
  stateDir: string;
  records: RecordStore;
  leases: LeaseStore;
  lockDir: string;
  nftFile: (uuid: string) => string;
}

export function makeContext(stateDir = paths.state(), configPath = paths.config()): Context {
  let config: HostConfig | undefined;
  return {
    config: () => (config ??= loadConfig(configPath)),
    stateDir,
    records: new RecordStore(join(stateDir, 'networks')),
    leases: new LeaseStore(join(stateDir, 'leases')),
    lockDir: join(stateDir, 'locks'),
    nftFile: (uuid) => join(stateDir, 'nft', `${uuid}.nft`),
  };
}
