import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { familyOf, isAddress, type Family } from '../domain/address.js';
import type { Lease, LeaseOwner } from '../domain/model.js';
import { readJsonIfExists, writeFileAtomic } from '../sys/files.js';

/**
 * Upstream addresses, one file per address under leases/<bridge>/<address>, created with
 * O_EXCL: the filesystem itself refuses a second owner. Addresses are unique per upstream
 * bridge (one L2 segment), whether they came from a pool or were fixed in the metadata.
 * leases/<bridge>/.owners/<uuid> names an owner's address, so finding it never scans the pool.
 */
export class FileLeaseStore {
  constructor(private readonly dir: string) {}

  private file(bridge: string, address: string): string {
    return join(this.dir, bridge, address);
  }

  holder(bridge: string, address: string): LeaseOwner | undefined {
    return readJsonIfExists<LeaseOwner>(this.file(bridge, address));
  }

  /** Take the address for `owner`; returns the other owner when someone else holds it. */
  claim(bridge: string, address: string, owner: LeaseOwner): LeaseOwner | undefined {
    mkdirSync(join(this.dir, bridge), { recursive: true, mode: 0o755 });
    // Index first: a crash between the two leaves an index entry that the lease check ignores,
    // never a lease nobody can find.
    this.index(bridge, owner.uuid, address);
    try {
      const fd = openSync(this.file(bridge, address), 'wx', 0o644);
      try {
        writeSync(fd, JSON.stringify(owner) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = this.holder(bridge, address);
    if (current === undefined) {
      // A crash between create and write leaves an empty file; it belongs to nobody.
      rmSync(this.file(bridge, address), { force: true });
      return this.claim(bridge, address, owner);
    }
    return current.uuid === owner.uuid ? undefined : current;
  }

  /** One index entry per family: a dual-stack network (or guest) holds one address of each on a bridge. */
  private ownerFile(bridge: string, uuid: string, family: Family): string {
    return join(this.dir, bridge, '.owners', family === 'ipv6' ? `${uuid}.ipv6` : uuid);
  }

  private index(bridge: string, uuid: string, address: string): void {
    mkdirSync(join(this.dir, bridge, '.owners'), { recursive: true, mode: 0o755 });
    writeFileAtomic(this.ownerFile(bridge, uuid, familyOf(address)), `${address}\n`);
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

  /** Addresses leased on one bridge: a single readdir, not one read per lease. */
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
      let text: string;
      try {
        text = readFileSync(this.ownerFile(bridge, uuid, family), 'utf8').trim();
      } catch {
        return [];
      }
      return isAddress(text) && this.holder(bridge, text)?.uuid === uuid ? [text] : [];
    });
  }

  all(): Lease[] {
    const out: Lease[] = [];
    let bridges: string[];
    try {
      bridges = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const bridge of bridges) {
      for (const a of this.used(bridge)) {
        const owner = this.holder(bridge, a);
        if (owner) out.push({ bridge, address: a, owner });
      }
    }
    return out;
  }
}
