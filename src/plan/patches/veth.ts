import { diffAddrGenMode, type RouterChanges } from '../changes.js';
import { isUp, linkKind, type IpLink, type ObservedRouter } from '../observed.js';
import type { DesiredRouter, LinkPlan } from '../router.js';
import type { Patch } from './patch.js';

/**
 * A veth pair per side: the host end is a port of the bridge (visible, tcpdump-able), the peer
 * is made straight inside the namespace. The host can reach the router through it.
 */
export const veth: Patch = {
  kind: 'veth',
  hostReachable: true,
  upstreamMustBeBridge: true,

  diffLink(link: LinkPlan, desired: DesiredRouter, observed: ObservedRouter, peer: IpLink | undefined, c: RouterChanges) {
    const host = observed.host[link.host];
    if (host && linkKind(host) !== 'veth') {
      c.conflicts.push(
        `${link.host} exists as a ${linkKind(host) ?? 'device of unknown kind'}, not as natns's veth; remove it (ip link del ${link.host}) and start the network again`,
      );
      return 'conflict';
    }
    const paired = host !== undefined && peer !== undefined && linkKind(peer) === 'veth' &&
      host.link_index === peer.ifindex && peer.link_index === host.ifindex;
    if (!paired) {
      if (host) {
        c.differences.push(`${link.host} is not paired with ${link.peer} in ${desired.namespace}`);
        c.host.push(`link del ${link.host}`);
      } else {
        c.differences.push(`veth ${link.host} (to ${link.master}) is missing`);
      }
      if (peer) c.nsFirst.push(`link del ${link.peer}`);
      c.host.push(
        `link add ${link.host} mtu ${link.mtu} master ${link.master} type veth peer name ${link.peer} address ${link.mac} mtu ${link.mtu} netns ${desired.namespace}`,
        `link set ${link.host} addrgenmode none`,
        `link set ${link.host} up`,
      );
      return true;
    }
    if (host.master !== link.master) {
      c.differences.push(`${link.host} is attached to ${host.master ?? 'no bridge'}, want ${link.master}`);
      c.host.push(`link set ${link.host} master ${link.master}`);
    }
    if (host.mtu !== link.mtu) {
      c.differences.push(`${link.host} has mtu ${host.mtu}, want ${link.mtu}`);
      c.host.push(`link set ${link.host} mtu ${link.mtu}`);
    }
    if (!isUp(host)) {
      c.differences.push(`${link.host} is down`);
      c.host.push(`link set ${link.host} up`);
    }
    diffAddrGenMode(host, c.host, c);
    return false;
  },

  /**
   * Deleting the host ends takes the pairs down synchronously; a namespace delete alone would
   * leave them to the kernel's asynchronous cleanup and a quick restart would collide. A device
   * under natns's name that is not a veth is not natns's and stays.
   */
  teardown(_names, hostLinks) {
    return { ns: [], host: hostLinks.filter((l) => linkKind(l) === 'veth').map((l) => `link del ${l.ifname}`) };
  },

  wired(names, bridges, host) {
    const { lan, wan } = names.hostDevices;
    return host.namespaceExists(names.namespace) && host.linkExists(lan) && host.linkExists(wan) &&
      host.linkMaster(lan) === bridges.lan && host.linkMaster(wan) === bridges.wan;
  },

  describe(lan, wan) {
    return `Veth patches:    ${lan.host} <-> ${lan.peer}, ${wan.host} <-> ${wan.peer}`;
  },
};
