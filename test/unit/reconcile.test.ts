import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../../src/core/context.js';
import { releaseUndefined } from '../../src/core/reconcile.js';

/** natns gc against real state files: libvirt's answer (what it still defines) is given. */
describe('releasing what libvirt no longer defines', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'natns-gc-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ pools: { p: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' } } }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a guest that cannot be released is reported and the others are released anyway', async () => {
    const ctx = makeContext(join(dir, 'state'), join(dir, 'config.json'));
    const owners = [1, 2, 3].map((n) => ({ uuid: `00000000-0000-4000-8000-00000000000${n}`, name: `g${n}`, kind: 'guest' as const }));
    for (const o of owners) await ctx.ipam.claim({ kind: 'pool', pool: 'p' }, o);
    // Two guests' records cannot be removed (a folder where the file should be).
    for (const o of owners.slice(0, 2)) mkdirSync(join(dir, 'state', 'guests', `${o.uuid}.json`), { recursive: true });
    const result = await releaseUndefined(ctx, { networks: new Set(), guests: new Set() });
    expect(result.errors.map((e) => e.split(':')[0]).sort()).toEqual(['guest g1', 'guest g2']);
    expect(result.actions).toEqual(['released public address 198.51.100.102 of undefined guest g3']);
  });
});
