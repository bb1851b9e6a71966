import { upstreamBridgeOf, type NetworkRecord } from '../domain/model.js';
import { observeRouter } from '../kernel/observe.js';
import { linkExists, linkMaster, linkMtu, namespaceExists } from '../kernel/sysfs.js';
import { diffRouter, type RouterChanges } from '../plan/diff.js';
import type { ObservedRouter } from '../plan/observed.js';
import { patchFor } from '../plan/patches/index.js';
import type { DesiredRouter } from '../plan/router.js';
import type { Context } from './context.js';
import { planFor } from './network.js';

export type MappingState = 'up' | 'down' | 'drift';

const sysfs = { namespaceExists, linkExists, linkMaster };

/**
 * A quick verdict from sysfs and /run/netns alone (no process per network), so that listing a
 * thousand networks stays fast; `natns show` and `natns check` do the full comparison.
 */
export function quickState(record: NetworkRecord, ctx: Context): MappingState {
  const { names } = ctx.network(record);
  if (record.phase !== 'running') {
    const present = [namespaceExists(names.namespace), linkExists(names.hostDevices.lan), linkExists(names.hostDevices.wan)];
    return present.some(Boolean) ? 'drift' : 'down';
  }
  return patchFor(record.patch).wired(names, { lan: record.bridge, wan: upstreamBridgeOf(record) }, sysfs) ? 'up' : 'drift';
}

/** The router a running record should have; undefined when its bridges are gone (network down). */
export async function desiredFromRecord(record: NetworkRecord, ctx: Context): Promise<DesiredRouter | undefined> {
  if (linkMtu(record.bridge) === undefined || linkMtu(upstreamBridgeOf(record)) === undefined) return undefined;
  return planFor(record, record, ctx);
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
