import { makeContext } from '../core/context.js';
import { releaseNetwork } from '../core/network.js';
import { errorText } from '../errors.js';
import { namespaceExists } from '../kernel/sysfs.js';
import { virsh } from '../libvirt/virsh.js';

export const help = `Usage: natns gc [--dry-run]

Return the upstream addresses of networks that libvirt no longer defines to their pools, and
forget those networks. libvirt runs no hook when a network is undefined, so a lease stays
reserved until this runs (by hand, or at boot). A network whose router still exists is kept.
`;

export async function run(args: string[]): Promise<number> {
  const dryRun = args.includes('--dry-run');
  const ctx = makeContext();
  const out = await virsh(['net-list', '--all', '--uuid'], 'list libvirt networks');
  const defined = new Set(out.split('\n').map((l) => l.trim().toLowerCase()).filter(Boolean));
  let failed = 0;
  for (const record of ctx.records.list()) {
    if (defined.has(record.uuid) || namespaceExists(record.namespace)) continue;
    if (dryRun) {
      process.stdout.write(`would release ${record.upstream.address} of undefined network ${record.name}\n`);
      continue;
    }
    try {
      await releaseNetwork(record, ctx);
      process.stdout.write(`released ${record.upstream.address} of undefined network ${record.name}\n`);
    } catch (err) {
      failed++;
      process.stderr.write(`natns: ${record.name}: ${errorText(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}
