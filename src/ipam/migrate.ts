import type { HostConfig } from '../config/config.js';
import { InputError, NatnsError } from '../domain/errors.js';
import type { Lease } from '../domain/model.js';
import { etcdIpam, fileLeases } from './select.js';

/**
 * `natns ipam migrate --to etcd`: this host's file leases become etcd leases naming this host,
 * each removed from the files once etcd holds it. An address another host already holds in etcd
 * is refused before anything moves; the admin decides which side gives it up.
 */
export async function migrateToEtcd(config: () => HostConfig, stateDir: string): Promise<Lease[]> {
  const etcd = await etcdIpam(config, stateDir);
  const files = fileLeases(stateDir);
  const leases = files.all();
  const clashes: string[] = [];
  for (const lease of leases) {
    const other = await etcd.holderOf(lease);
    if (other) clashes.push(`${lease.address} on ${lease.bridge} (here: ${lease.owner.name}) is held by ${other.kind ?? 'network'} '${other.name}' on host ${other.host ?? '?'}`);
  }
  if (clashes.length > 0) {
    throw new InputError(`nothing migrated: ${clashes.join('; ')}; release it on one side (natns release NAME), then migrate again`);
  }
  const moved: Lease[] = [];
  for (const lease of leases) {
    const other = await etcd.adopt(lease);
    if (other) {
      throw new NatnsError(`migrated ${moved.length} of ${leases.length} leases, then ${lease.address} on ${lease.bridge} was taken by '${other.name}' on host ${other.host ?? '?'} meanwhile; the rest stays in files: release one side and migrate again`);
    }
    files.release(lease.bridge, lease.address, lease.owner.uuid);
    moved.push({ ...lease, owner: { ...lease.owner, host: config().host } });
  }
  return moved;
}
