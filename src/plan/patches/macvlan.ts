import { NS_LAN, NS_WAN } from '../../domain/names.js';
import type { RouterChanges } from '../changes.js';
import { linkKind, type IpLink, type ObservedRouter } from '../observed.js';
import type { DesiredRouter, LinkPlan } from '../router.js';
import type { Patch } from './patch.js';

/**
 * A bridge-mode macvlan of each bridge (or, upstream, of a NIC), made in the host where its
 * lower lives and moved straight into the namespace: one hop less per packet. Nothing of it
 * shows on the host, and the host never reaches a macvlan's addresses.
 */
export const macvlan: Patch = {
  kind: 'macvlan',
  hostReachable: false,
  upstreamMustBeBridge: false,

  diffLink(link: LinkPlan, desired: DesiredRouter, observed: ObservedRouter, peer: IpLink | undefined, c: RouterChanges) {
    const leftover = observed.host[link.host];
    if (leftover && linkKind(leftover) === 'veth') {
      c.differences.push(`${link.host} is left from a veth patch`);
      c.host.push(`link del ${link.host}`);
    }
    const lower = observed.lowers[link.master];
    const attached = peer !== undefined && linkKind(peer) === 'macvlan' && peer.linkinfo?.info_data?.mode === 'bridge' &&
      peer.link_netnsid !== undefined && lower !== undefined && peer.link_index === lower;
    if (attached) return false;
    c.differences.push(peer ? `${link.peer} in ${desired.namespace} is not a macvlan of ${link.master}` : `macvlan ${link.peer} (on ${link.master}) is missing`);
    if (peer) c.nsFirst.push(`link del ${link.peer}`);
    c.host.push(`link add link ${link.master} name ${link.peer} mtu ${link.mtu} address ${link.mac} netns ${desired.namespace} type macvlan mode bridge`);
    return true;
  },

  /**
   * Without host ends, delete the macvlans inside first: a namespace's own links die
   * asynchronously, and the next start's macvlan with the same MAC on the same lower would collide.
   */
  teardown(_names, hostLinks, namespace) {
    // No veth host end: the router was built with macvlans (a stretch's VXLAN device does not count).
    return { ns: !hostLinks.some((l) => linkKind(l) === 'veth') && namespace ? [`link del ${NS_LAN}`, `link del ${NS_WAN}`] : [], host: [] };
  },

  // Its macvlans live only inside the namespace, which sysfs here cannot see; their lowers can be.
  wired(names, bridges, host) {
    return host.namespaceExists(names.namespace) && host.linkExists(bridges.lan) && host.linkExists(bridges.wan);
  },

  describe(lan, wan) {
    return `Macvlan patches: ${lan.peer} on ${lan.master}, ${wan.peer} on ${wan.master}`;
  },
};
