import { makeContext } from '../core/context.js';
import { findNetwork } from '../core/lookup.js';
import { dhcpLeases } from '../core/views.js';
import { fitTable } from './fit.js';

export async function run(name: string, options: { json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const record = findNetwork(ctx, name, 'leases');
  const { dhcp, leases } = dhcpLeases(ctx, record);
  if (options.json) {
    process.stdout.write(JSON.stringify(leases, null, 2) + '\n');
    return 0;
  }
  if (!dhcp) {
    process.stdout.write(`network ${record.name} runs no DHCP server (add <natns:dhcp start=... end=.../> to hand out addresses)\n`);
    return 0;
  }
  if (leases.length === 0) {
    process.stdout.write(`no DHCP leases on network ${record.name}\n`);
    return 0;
  }
  process.stdout.write(fitTable(['ADDRESS', 'MAC', 'HOSTNAME', 'EXPIRES', 'GUEST'], leases.map((l) => [
    l.address, l.mac ?? '-', l.hostname ?? '-', l.expires ? l.expires.replace(/\.\d+Z$/, 'Z') : 'never', l.guest ?? '-',
  ]), [2, 4, 0]));
  return 0;
}
