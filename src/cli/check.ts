import { makeContext } from '../core/context.js';
import { check, repair } from '../core/reconcile.js';

export const help = `Usage: natns check [NETWORK] [--repair]

Compare what the kernel holds (namespaces, veths, addresses, routes, sysctls, nft tables,
dnsmasq) with what natns planned, and list every difference; read-only. Without NETWORK it
also lists natns objects and leases that no network claims, and state files that cannot be
used (empty, truncated). Exit code 0 only when there is none.

  --repair   move unusable state files aside (PATH.corrupt-TIME, kept) and rebuild what they
             held where libvirt or the other state still knows it; converge every network
             libvirt reports active (from its live XML), remove the routers of inactive ones,
             release the addresses of networks libvirt no longer defines, and remove unclaimed
             natns objects; then check again. Run it at boot.
`;

export async function run(args: string[]): Promise<number> {
  const ctx = makeContext();
  const only = args.find((a) => !a.startsWith('-'));
  if (args.includes('--repair')) {
    const { actions, errors } = await repair(ctx);
    for (const a of actions) process.stdout.write(`${a}\n`);
    for (const e of errors) process.stderr.write(`natns: ${e}\n`);
    if (actions.length === 0 && errors.length === 0) process.stdout.write('nothing to repair\n');
    if (errors.length) return 1;
  }
  const findings = await check(ctx, only);
  for (const f of findings) process.stdout.write(`${f.network ? `${f.network}: ` : ''}${f.what}\n`);
  if (findings.length === 0 && !args.includes('--repair')) process.stdout.write('ok: the kernel matches the plan\n');
  return findings.length ? 1 : 0;
}
