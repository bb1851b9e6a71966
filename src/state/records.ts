import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonIfExists, writeFileAtomic } from './files.js';

/**
 * What natns knows about one network, one JSON file per UUID. Written by the hook, read by the
 * CLI (the hook must never ask libvirt, so this is also how `natns list` sees the mappings).
 */
export interface NetworkRecord {
  uuid: string;
  name: string;
  bridge: string;
  namespace: string;
  private: { address: string; prefix: number };
  upstream: { address: string; prefix: number; bridge: string; gateway: string; pool?: string };
  /** starting: lease reserved at `start begin`; running: router built; stopped; failed. */
  phase: 'starting' | 'running' | 'stopped' | 'failed';
  updated: string;
}

export class RecordStore {
  constructor(private readonly dir: string) {}

  path(uuid: string): string {
    return join(this.dir, `${uuid}.json`);
  }

  read(uuid: string): NetworkRecord | undefined {
    return readJsonIfExists<NetworkRecord>(this.path(uuid));
  }

  write(record: Omit<NetworkRecord, 'updated'>): NetworkRecord {
    const full = { ...record, updated: new Date().toISOString() };
    writeFileAtomic(this.path(record.uuid), JSON.stringify(full, null, 2) + '\n');
    return full;
  }

  setPhase(uuid: string, phase: NetworkRecord['phase']): void {
    const record = this.read(uuid);
    if (record) this.write({ ...record, phase });
  }

  remove(uuid: string): void {
    rmSync(this.path(uuid), { force: true });
  }

  /** All records, sorted by network name. Only the CLI lists; hooks read their own record by UUID. */
  list(): NetworkRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => readJsonIfExists<NetworkRecord>(join(this.dir, n)))
      .filter((r): r is NetworkRecord => r !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  findByName(name: string): NetworkRecord | undefined {
    return this.list().find((r) => r.name === name || r.uuid === name);
  }
}
