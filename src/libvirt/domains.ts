import { libvirtUri } from './virsh.js';
import { NatnsError } from '../domain/errors.js';

/** Domains through the @unraid/libvirt binding, loaded only by the commands that need it. */
export interface Domains {
  defineAndStart(xml: string): Promise<void>;
  /** Stop and undefine; a domain that is not there is fine. */
  remove(name: string): Promise<void>;
  names(): Promise<string[]>;
  close(): Promise<void>;
}

export async function openDomains(uri = libvirtUri()): Promise<Domains> {
  const { Hypervisor } = await import('@unraid/libvirt');
  const hv = new Hypervisor({ uri });
  try {
    await hv.connectOpen();
  } catch (err) {
    throw new NatnsError(`cannot connect to libvirt at ${uri}: ${(err as Error).message}; is libvirtd running?`, { cause: err });
  }
  const lookup = async (name: string) => {
    try {
      return await hv.domainLookupByName(name);
    } catch {
      return undefined;
    }
  };
  return {
    async defineAndStart(xml) {
      const domain = await hv.domainDefineXML(xml);
      await domain.create();
    },
    async remove(name) {
      const domain = await lookup(name);
      if (!domain) return;
      await domain.destroy().catch(() => undefined);
      await domain.undefine();
    },
    async names() {
      return Promise.all((await hv.connectListAllDomains()).map((d) => d.getName()));
    },
    async close() {
      await hv.connectClose();
    },
  };
}
