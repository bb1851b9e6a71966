import { makeContext } from '../core/context.js';
import { poolDetail, poolUsage } from '../core/pools.js';
import { fitTable } from './fit.js';

const range = (p: { first: string; last: string }) => `${p.first}-${p.last}`;

export async function list(options: { json?: boolean }): Promise<number> {
  const pools = await poolUsage(makeContext());
  if (options.json) {
    process.stdout.write(JSON.stringify(pools, null, 2) + '\n');
    return 0;
  }
  if (pools.length === 0) {
    process.stdout.write('no pools: add them to the natns config (see the README, "Configuring a network")\n');
    return 0;
  }
  process.stdout.write(fitTable(['POOL', 'BRIDGE', 'RANGE', 'USED', 'FREE'], pools.map((p) => [p.pool, p.bridge, range(p), String(p.used), String(p.free)]), [0, 2]));
  return 0;
}

export async function show(name: string, options: { json?: boolean }): Promise<number> {
  const pool = await poolDetail(makeContext(), name);
  if (options.json) {
    process.stdout.write(JSON.stringify(pool, null, 2) + '\n');
    return 0;
  }
  const out = [
    `Pool:    ${pool.pool} (${pool.family})`,
    `Bridge:  ${pool.bridge}`,
    `Subnet:  ${pool.subnet} via ${pool.gateway}`,
    `Range:   ${range(pool)} (${pool.size} ${pool.units})`,
    `Used:    ${pool.used}, free: ${pool.free}`,
    '',
  ];
  process.stdout.write(out.join('\n') + '\n');
  process.stdout.write(pool.leases.length === 0
    ? 'no leases\n'
    : fitTable(['ADDRESS', 'KIND', 'OWNER', 'HOST'], pool.leases.map((l) => [l.address, l.kind, l.owner, l.host]), [2, 3]));
  return 0;
}
