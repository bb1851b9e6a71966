import type { NetworkRecord, Upstream } from '../domain/model.js';
import type { BadFiles } from '../sys/bad-files.js';
import { JsonDir } from '../sys/json-dir.js';

export type { NetworkRecord } from '../domain/model.js';

/**
 * What natns knows about one network, one JSON file per UUID: the validated spec, the lease it
 * holds and its phase. Written by the hook, read by the CLI (the hook must never ask libvirt,
 * so this is also how `natns list` sees the mappings).
 */
export class RecordStore {
  private readonly files: JsonDir<NetworkRecord>;

  constructor(dir: string, bad?: BadFiles) {
    this.files = new JsonDir(dir, { ...(bad ? { bad } : {}), kind: 'network', valid: isRecord });
  }

  path(uuid: string): string {
    return this.files.path(uuid);
  }

  /** This network's record; a bad file is an error naming it. */
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

  /** All readable records, sorted by network name; a bad file is noted and skipped. */
  list(): NetworkRecord[] {
    return this.files.list().map(upgrade).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** UUIDs of networks whose record file cannot be used. */
  unreadable(): string[] {
    return this.files.unreadable();
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

/** Enough of a record's shape that listing and planning cannot crash on it. */
function isRecord(v: unknown): boolean {
  const r = v as Partial<NetworkRecord> & { upstream?: unknown };
  const isObject = (x: unknown) => typeof x === 'object' && x !== null;
  return isObject(r) && typeof r.uuid === 'string' && typeof r.name === 'string' && typeof r.bridge === 'string'
    // One family at least: an IPv6-only network has private6 and lease6 alone.
    && ((isObject(r.private) && (isObject(r.lease) || isObject(r.upstream))) || (isObject(r.private6) && isObject(r.lease6)));
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
