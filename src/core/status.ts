import { observeRouter, type ObservedRouter } from '../kernel/observe.js';
import { linkExists, linkMaster, linkMtu, namespaceExists } from '../kernel/sysfs.js';
import { diffRouter, type RouterChanges } from '../plan/diff.js';
import { hostDeviceNames } from '../plan/names.js';
import type { DesiredRouter } from '../plan/router.js';
import type { NetworkRecord } from '../state/records.js';
import type { Context } from './context.js';
import { networkFromRecord, planFor, upstreamOf } from './network.js';

export type MappingState = 'up' | 'down' | 'drift';

/**
 * A quick verdict from sysfs and /run/netns alone (no process per network), so that listing a
 * thousand networks stays fast; `natns show` and `natns check` do the full comparison.
 */
export function quickState(record: NetworkRecord): MappingState {
  const devices = hostDeviceNames(record.uuid);
  const present = [namespaceExists(record.namespace), linkExists(devices.lan), linkExists(devices.wan)];
  if (record.phase !== 'running') return present.some(Boolean) ? 'drift' : 'down';
  if (record.patch === 'macvlan') {
    // Its macvlans live only inside the namespace, which sysfs here cannot see; their lowers can be.
    return present[0] && linkExists(record.bridge) && linkExists(record.upstream.bridge) ? 'up' : 'drift';
  }
  const wired = linkMaster(devices.lan) === record.bridge && linkMaster(devices.wan) === record.upstream.bridge;
  return present.every(Boolean) && wired ? 'up' : 'drift';
}

/** The router a running record should have; undefined when its bridges are gone (network down). */
export async function desiredFromRecord(record: NetworkRecord, ctx: Context): Promise<DesiredRouter | undefined> {
  if (linkMtu(record.bridge) === undefined || linkMtu(record.upstream.bridge) === undefined) return undefined;
  return planFor(networkFromRecord(record), upstreamOf(record), ctx);
}

export interface Inspection {
  desired?: DesiredRouter;
  observed?: ObservedRouter;
  changes?: RouterChanges;
}

export async function inspect(record: NetworkRecord, ctx: Context): Promise<Inspection> {
  const desired = await desiredFromRecord(record, ctx);
  if (!desired) return {};
  const observed = await observeRouter(desired);
  return { desired, observed, changes: diffRouter(desired, observed) };
}
