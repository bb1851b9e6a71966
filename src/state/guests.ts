import type { GuestOnNetwork, PortForward } from '../libvirt/domain-xml.js';

/** A running guest's natns extras, kept so a network (re)start can restore them. */
export interface GuestRecord {
  uuid: string;
  name: string;
  networks: GuestOnNetwork[];
  updated: string;
}

/** A forward an admin added by hand (`natns forward add`), kept per network UUID. */
export interface AdminForward extends PortForward {
  to: string;
}

/** A guest interface plugged into a network, from the network hook's port-created event. */
export interface PortRecord {
  port: string;
  vm: string;
  vmUuid: string;
  mac: string;
}
