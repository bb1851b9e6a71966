import type { PatchKind } from '../../domain/model.js';
import type { RouterNames } from '../../domain/names.js';
import type { RouterChanges } from '../changes.js';
import type { IpLink, ObservedRouter } from '../observed.js';
import type { DesiredRouter, LinkPlan } from '../router.js';

/** What a status check may read of the host namespace (sysfs, no process). */
export interface HostFacts {
  namespaceExists(name: string): boolean;
  linkExists(name: string): boolean;
  linkMaster(name: string): string | undefined;
}

/** One way of joining the router namespace to the two bridges; each kind lives in its own file. */
export interface Patch {
  kind: PatchKind;
  /**
   * Whether the host can reach the router's upstream side through this patch: then guests need
   * the rule that keeps them off the host's own upstream addresses, and a pool may allow it.
   */
  hostReachable: boolean;
  /** veth ends join a bridge; a macvlan can hang off any link (a NIC as well). */
  upstreamMustBeBridge: boolean;
  /**
   * Diff one side of the router. Returns true when the namespace's device is (re)created, so
   * everything on it starts from nothing; 'conflict' when a foreign object is in the way.
   */
  diffLink(link: LinkPlan, desired: DesiredRouter, observed: ObservedRouter, peer: IpLink | undefined, c: RouterChanges): boolean | 'conflict';
  /**
   * Lines that take this kind's devices down before the namespace goes, from what exists (a
   * router is removed by its names alone, whatever kind it was built with).
   */
  teardown(names: RouterNames, hostLinks: IpLink[], namespace: boolean): { ns: string[]; host: string[] };
  /** Whether a running router's devices are all in place, from sysfs alone. */
  wired(names: RouterNames, bridges: { lan: string; wan: string }, host: HostFacts): boolean;
  /** One line for `natns show`. */
  describe(lan: LinkPlan, wan: LinkPlan): string;
}
