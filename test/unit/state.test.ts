import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordFacts, RecordStore, type NetworkRecord } from '../../src/state/records.js';

const record: Omit<NetworkRecord, 'updated'> = {
  uuid: '5a2f8e8c-3b7d-4f43-9c61-0d2b8e4f1a10', name: 'tenant-a', bridge: 'virbr10',
  private: { address: '10.0.0.1', prefix: 24 },
  upstream: { kind: 'pool', pool: 'default' },
  lease: { address: '198.51.100.101', prefix: 24, bridge: 'br0', gateway: '198.51.100.1', pool: 'default' },
  phase: 'starting',
};

test('record facts ignore the timestamp, and the phase only when asked', () => {
  expect(recordFacts({ ...record, updated: 'x' })).toBe(recordFacts(record));
  expect(recordFacts({ ...record, phase: 'running' })).not.toBe(recordFacts(record));
  expect(recordFacts({ ...record, phase: 'running' }, false)).toBe(recordFacts(record, false));
  expect(recordFacts({ ...record, lease: { ...record.lease!, address: '198.51.100.102' } }, false)).not.toBe(recordFacts(record, false));
});

test('a phase change is written whole, and a write that changes nothing is skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'natns-state-'));
  try {
    const store = new RecordStore(dir);
    store.write(record);
    store.setPhase(record.uuid, 'running');
    const running = JSON.parse(readFileSync(store.path(record.uuid), 'utf8')) as NetworkRecord;
    expect(running).toMatchObject({ ...record, phase: 'running' });
    // The same facts again: nothing is written, the timestamp stays.
    expect(store.write({ ...record, phase: 'running' })).toEqual(running);
    expect(JSON.parse(readFileSync(store.path(record.uuid), 'utf8'))).toEqual(running);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record written before the lease had its own key reads as spec plus lease', () => {
  const dir = mkdtempSync(join(tmpdir(), 'natns-state-'));
  try {
    const { upstream: _spec, lease, ...rest } = record;
    writeFileSync(join(dir, `${record.uuid}.json`), JSON.stringify({ ...rest, namespace: 'natns-tenant-a', upstream: lease, updated: 'x' }));
    expect(new RecordStore(dir).read(record.uuid)).toEqual({ ...record, updated: 'x' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
