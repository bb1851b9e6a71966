import { readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { familyOf, isAddress, type Family } from '../domain/address.js';
import { NatnsError } from '../domain/errors.js';
import type { Lease, LeaseOwner } from '../domain/model.js';
import { badFiles as processBadFiles, badFileText, type BadFiles } from '../sys/bad-files.js';
import { createExclusive, readJsonFile, writeFileAtomic } from '../sys/files.js';

const isOwner = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as LeaseOwner).uuid === 'string' && typeof (v as LeaseOwner).name === 'string';

/**
 * Upstream addresses, one file per address under leases/<bridge>/<address>, created
 * exclusively (written, then link()ed into place): the filesystem itself refuses a second owner,
 * and a lease file never exists empty. Addresses are unique per upstream bridge (one L2
 * segment), whether they came from a pool or were fixed in the metadata.
 * leases/<bridge>/.owners/<uuid> names an owner's address, so finding it never scans the pool.
 * A lease file that cannot be read keeps its address taken (it is in the folder) until repair
 * or the admin deals with it: handing it out could give one address to two networks.
 */
export class FileLeaseStore {
  private readonly bad: BadFiles;

  constructor(private readonly dir: string, bad?: BadFiles) {
    this.bad = bad ?? processBadFiles;
  }

  private file(bridge: string, address: string): string {
    return join(this.dir, bridge, address);
  }

  /** Who holds the address; a bad lease file is an error naming it. */
  holder(bridge: string, address: string): LeaseOwner | undefined {
    const path = this.file(bridge, address);
    const r = readJsonFile<LeaseOwner>(path, isOwner);
    if ('problem' in r) {
      throw new NatnsError(`cannot use ${badFileText({ path, reason: r.problem })}; until then ${address} stays taken`);
    }
    return 'value' in r ? r.value : undefined;
  }

  /** Take the address for `owner`; returns the other owner when someone else holds it. */
  claim(bridge: string, address: string, owner: LeaseOwner): LeaseOwner | undefined {
    // Read first: a network's every start claims its lease again, and that must cost no write.
    const current = this.holder(bridge, address);
    if (current !== undefined && current.uuid !== owner.uuid) return current;
    // Index first: a crash between the two leaves an index entry that the lease check ignores,
    // never a lease nobody can find.
    const family = familyOf(address);
    if (this.indexed(bridge, owner.uuid, family) !== address) writeFileAtomic(this.ownerFile(bridge, owner.uuid, family), `${address}\n`);
    if (current !== undefined || createExclusive(this.file(bridge, address), JSON.stringify(owner) + '\n')) return undefined;
    // Created since our read (not by natns: its claims of one bridge hold the bridge's lock).
    const now = this.holder(bridge, address);
    if (now === undefined) return this.claim(bridge, address, owner);
    return now.uuid === owner.uuid ? undefined : now;
  }

  /** One index entry per family: a dual-stack network (or guest) holds one address of each on a bridge. */
  private ownerFile(bridge: string, uuid: string, family: Family): string {
    return join(this.dir, bridge, '.owners', family === 'ipv6' ? `${uuid}.ipv6` : uuid);
  }

  /** The address the owner index names for `uuid`, if any. */
  private indexed(bridge: string, uuid: string, family: Family): string | undefined {
    try {
      const text = readFileSync(this.ownerFile(bridge, uuid, family), 'utf8').trim();
      return isAddress(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }

  release(bridge: string, address: string, uuid: string): void {
    if (this.holder(bridge, address)?.uuid !== uuid) return;
    rmSync(this.file(bridge, address), { force: true });
    rmSync(this.ownerFile(bridge, uuid, familyOf(address)), { force: true });
    for (const dir of [join(this.dir, bridge, '.owners'), join(this.dir, bridge)]) {
      try {
        rmdirSync(dir);
      } catch {
        // Other leases remain on this bridge.
      }
    }
  }

  /** Addresses leased on one bridge, readable or not: a single readdir, not one read per lease. */
  used(bridge: string): Set<string> {
    try {
      return new Set(readdirSync(join(this.dir, bridge)).filter((a) => isAddress(a)));
    } catch {
      return new Set();
    }
  }

  /** The leases `uuid` holds on `bridge` (one per family), from the owner index (checked against the leases themselves). */
  leasesOf(bridge: string, uuid: string): string[] {
    return (['ipv4', 'ipv6'] as const).flatMap((family) => {
      const address = this.indexed(bridge, uuid, family);
      return address !== undefined && this.holder(bridge, address)?.uuid === uuid ? [address] : [];
    });
  }

  /** Every readable lease; a bad lease file is noted and skipped (its address stays taken). */
  all(): Lease[] {
    const out: Lease[] = [];
    let bridges: string[];
    try {
      bridges = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const bridge of bridges) {
      for (const address of this.used(bridge)) {
        const path = this.file(bridge, address);
        const r = readJsonFile<LeaseOwner>(path, isOwner);
        if ('value' in r) out.push({ bridge, address, owner: r.value });
        else if ('problem' in r) this.bad.add({ path, reason: r.problem, kind: 'lease', key: `${bridge}/${address}` });
      }
    }
    return out;
  }
}
