import type { PatchKind, TproxySpec } from '../libvirt/network-xml.js';
import { JsonDir } from './json-dir.js';

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
  dhcp?: { start: string; end: string };
  tproxy?: TproxySpec;
  /** Absent: veth (records written before the option existed have none). */
  patch?: PatchKind;
  /** starting: lease reserved at `start begin`; running: router built; stopped; failed. */
  phase: 'starting' | 'running' | 'stopped' | 'failed';
  updated: string;
}

export class RecordStore {
  private readonly files: JsonDir<NetworkRecord>;

  constructor(dir: string) {
    this.files = new JsonDir(dir);
  }

  path(uuid: string): string {
    return this.files.path(uuid);
  }

  read(uuid: string): NetworkRecord | undefined {
    return this.files.read(uuid);
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
    return this.files.list().sort((a, b) => a.name.localeCompare(b.name));
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
