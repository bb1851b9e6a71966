import type { NetworkRecord, Upstream } from '../domain/model.js';
import { JsonDir } from '../sys/json-dir.js';

export type { NetworkRecord } from '../domain/model.js';

/**
 * What natns knows about one network, one JSON file per UUID: the validated spec, the lease it
 * holds and its phase. Written by the hook, read by the CLI (the hook must never ask libvirt,
 * so this is also how `natns list` sees the mappings).
 */
export class RecordStore {
  private readonly files: JsonDir<NetworkRecord>;

  constructor(dir: string) {
    this.files = new JsonDir(dir);
  }

  path(uuid: string): string {
    return this.files.path(uuid);
  }

  read(uuid: string): NetworkRecord | undefined {
    const record = this.files.read(uuid);
    return record === undefined ? undefined : upgrade(record);
  }

  /**
   * What a network is (name, addresses, lease) is written durably; a change of phase alone is
   * not fsync'd: it only mirrors kernel state, which a power loss takes with it; and a record
   * that says what the file already says is not written at all (`started` after `start begin`).
   * Fsyncs saved while libvirt waits.
   */
  write(record: Omit<NetworkRecord, 'updated'>): NetworkRecord {
    const before = this.read(record.uuid);
    if (before !== undefined && recordFacts(before) === recordFacts(record)) return before;
    const full = { ...record, updated: new Date().toISOString() };
    this.files.write(record.uuid, full, before === undefined || recordFacts(before, false) !== recordFacts(record, false));
    return full;
  }

  setPhase(uuid: string, phase: NetworkRecord['phase']): void {
    const record = this.read(uuid);
    if (record) this.write({ ...record, phase });
  }

  remove(uuid: string): void {
    this.files.remove(uuid);
  }

  /** All records, sorted by network name. */
  list(): NetworkRecord[] {
    return this.files.keys().map((k) => this.read(k)).filter((r): r is NetworkRecord => r !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  findByName(name: string): NetworkRecord | undefined {
    return this.list().find((r) => r.name === name || r.uuid === name);
  }
}

/** A record as comparable text, without its timestamp (and without its phase unless asked). */
export function recordFacts(r: Omit<NetworkRecord, 'updated'> & { updated?: string }, withPhase = true): string {
  const { updated: _updated, phase, ...facts } = r;
  return JSON.stringify(withPhase ? { ...facts, phase } : facts);
}

/**
 * Records written before natns 0.2 kept the lease under `upstream` and no spec of it: such a
 * network's upstream spec is its lease's pool, or the lease itself when it had none.
 */
function upgrade(record: NetworkRecord): NetworkRecord {
  // An IPv6-only network's record holds lease6 alone.
  if ('lease' in record || 'lease6' in record) return record;
  const { namespace: _namespace, upstream, ...rest } = record as unknown as { namespace: string; upstream: Upstream } & Omit<NetworkRecord, 'upstream' | 'lease'>;
  return {
    ...rest,
    upstream: upstream.pool ? { kind: 'pool', pool: upstream.pool } : { kind: 'fixed', bridge: upstream.bridge, address: upstream.address, prefix: upstream.prefix, gateway: upstream.gateway },
    lease: upstream,
  };
}
