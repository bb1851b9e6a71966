import { join } from 'node:path';
import type { EtcdConfig, HostConfig } from '../config/config.js';
import { InputError } from '../domain/errors.js';
import type { EtcdIpam } from './etcd.js';
import { FileIpam, type Ipam } from './ipam.js';
import type { BadFiles } from '../sys/bad-files.js';
import { FileLeaseStore } from './leases.js';

/**
 * The IPAM the config asks for, decided on first use. The etcd backend (and Node's http or
 * https with it) is loaded only then: a hook on the file backend never loads it.
 */
export function selectIpam(config: () => HostConfig, stateDir: string, bad?: BadFiles): Ipam {
  let chosen: Promise<Ipam> | undefined;
  const ipam = (): Promise<Ipam> => {
    chosen ??= (async () => {
      const c = config();
      return c.ipam.backend === 'etcd' ? etcdIpam(config, stateDir, bad) : new FileIpam(fileLeases(stateDir, bad), join(stateDir, 'locks'), config);
    })();
    // A config error is the admin's to fix; the next call reads the config again.
    chosen.catch(() => (chosen = undefined));
    return chosen;
  };
  return {
    claim: async (...a) => (await ipam()).claim(...a),
    release: async (...a) => (await ipam()).release(...a),
    leases: async (...a) => (await ipam()).leases(...a),
    holder: async (...a) => (await ipam()).holder(...a),
  };
}

export function fileLeases(stateDir: string, bad?: BadFiles): FileLeaseStore {
  return new FileLeaseStore(join(stateDir, 'leases'), bad);
}

/** The etcd backend itself, for what only it can do (`natns ipam migrate`). */
export async function etcdIpam(config: () => HostConfig, stateDir: string, bad?: BadFiles): Promise<EtcdIpam> {
  const c = config();
  if (c.ipam.backend !== 'etcd') {
    throw new InputError('the natns config does not name an etcd cluster: set "ipam": {"backend": "etcd", "endpoints": [...]} first (see the README, "Several hosts")');
  }
  const { EtcdIpam } = await import('./etcd.js');
  return new EtcdIpam(c.ipam as EtcdConfig, config, fileLeases(stateDir, bad), join(stateDir, 'etcd-pending'), join(stateDir, 'locks'));
}
