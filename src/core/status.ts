import { upstreamBridgeOf, type NetworkRecord } from '../domain/model.js';
import { dnsmasqAbsence } from '../kernel/dnsmasq.js';
import { observeRouter } from '../kernel/observe.js';
import { probeNamespaces } from '../kernel/router-probe.js';
import { linkExists, linkMaster, linkMtu, namespaceExists } from '../kernel/sysfs.js';
import { diffRouter, type RouterChanges } from '../plan/diff.js';
import type { ObservedRouter } from '../plan/observed.js';
import { patchFor } from '../plan/patches/index.js';
import { offBridgeText } from '../plan/guest-taps.js';
import { insideDifferences, mappingState, type LibvirtSays, type MappingState } from '../plan/quick-state.js';
import type { DesiredRouter } from '../plan/router.js';
import type { Context } from './context.js';
import { observeGuestTapsOf } from './guest-taps.js';
import { readRole } from './role.js';
import { planFor } from './network.js';

const sysfs = { namespaceExists, linkExists, linkMaster };

/** A network's state for `natns list`, and what makes it drift. */
export interface QuickStatus {
  state: MappingState;
  differences: string[];
}

/**
 * `natns list`'s states for many networks at once, as `natns check` would judge them, cheaply:
 * sysfs and /run/netns for the host side, one process (kernel/probe.ts) for the inside of every
 * router that should run, pid files for dnsmasq. `check` and `show` still compare everything
 * (every address, route, sysctl and the nft table's text). `libvirt` says what libvirt reports
 * of each network ('unknown' without its word).
 */
export async function quickStates(records: NetworkRecord[], ctx: Context, libvirtSays: Promise<(uuid: string) => LibvirtSays>): Promise<Map<string, QuickStatus>> {
  const facts = records.map((record) => {
    const handle = ctx.network(record);
    const { names } = handle;
    const namespace = namespaceExists(names.namespace);
    const present = namespace || linkExists(names.hostDevices.lan) || linkExists(names.hostDevices.wan);
    return { record, handle, namespace, present };
  });
  // Every router natns has running is read while libvirt answers (it decides which should run).
  const probed = facts.filter((f) => f.record.phase === 'running' && f.namespace);
  const [says, probes] = await Promise.all([libvirtSays, probeNamespaces(probed.map((f) => f.handle.names.namespace))]);
  const judged = facts.map((f) => ({
    ...f, says: says(f.record.uuid),
    running: f.record.phase === 'running' && f.namespace && mappingState({ libvirt: says(f.record.uuid), phase: f.record.phase, present: f.present, namespace: f.namespace, differences: [] }) === 'up',
  }));
  const running = judged.filter((f) => f.running);
  const loose = new Map(observeGuestTapsOf(running.map((f) => ({ handle: f.handle, bridge: f.record.bridge })), ctx.guests.list())
    .map((t, i) => [running[i]!.record.uuid, [...t.plug, ...t.elsewhere].map((g) => offBridgeText(running[i]!.record.bridge, g))]));
  const out = new Map<string, QuickStatus>();
  for (const f of judged) {
    const differences: string[] = [];
    if (f.running) {
      const { record, handle } = f;
      if (!patchFor(record.patch).wired(handle.names, { lan: record.bridge, wan: upstreamBridgeOf(record) }, sysfs)) {
        differences.push(`its ${record.patch ?? 'veth'} patches are not wired to ${record.bridge} and ${upstreamBridgeOf(record)}`);
      }
      // A stretched network's router stands by while another host's is active: sides down, no DHCP.
      const standby = record.vxlan !== undefined && !readRole(ctx.stateDir, record.uuid).active;
      const probe = probes.get(handle.names.namespace);
      differences.push(...(probe ? insideDifferences(record, probe, standby) : ['its namespace was not read']));
      const dhcp = !standby && (record.dhcp || record.private6) ? dnsmasqAbsence(handle.dhcpDir, handle.names.namespace) : undefined;
      if (dhcp) differences.push(dhcp);
      differences.push(...(loose.get(record.uuid) ?? []));
    }
    out.set(f.record.uuid, { state: mappingState({ libvirt: f.says, phase: f.record.phase, present: f.present, namespace: f.namespace, differences }), differences });
  }
  return out;
}

/** Whether a network's namespace, or anything of its router, exists. */
export function presence(record: NetworkRecord, ctx: Context): { namespace: boolean; present: boolean } {
  const { names } = ctx.network(record);
  const namespace = namespaceExists(names.namespace);
  return { namespace, present: namespace || linkExists(names.hostDevices.lan) || linkExists(names.hostDevices.wan) };
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
