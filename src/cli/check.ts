import { makeContext } from '../core/context.js';
import { check, libvirtNetworks, repair, type LibvirtNetworks } from '../core/reconcile.js';
import { errorText } from '../domain/errors.js';

export const help = `Usage: natns check [NETWORK] [--repair]

Compare what the kernel holds (namespaces, veths, addresses, routes, sysctls, nft tables,
dnsmasq) with what natns planned, and list every difference; read-only. Also listed: a network
whose last start failed, and a router of a network libvirt defines but does not run. Without
NETWORK it also lists natns objects and leases that no network claims, and state files that
cannot be used (empty, truncated). Exit code 0 only when there is none. When libvirt does not
answer, it says so and checks the rest.

  --repair   move unusable state files aside (PATH.corrupt-TIME, kept) and rebuild what they
             held where libvirt or the other state still knows it; converge every network
             libvirt reports active (from its live XML), remove the routers of inactive ones,
             release the addresses of networks libvirt no longer defines, and remove unclaimed
             natns objects; then check again. Run it at boot. With NETWORK, only that
             network's router is converged or removed. What it cannot fix is left as it was
             and reported (exit code 1).
`;

export async function run(args: string[]): Promise<number> {
  const ctx = makeContext();
  const only = args.find((a) => !a.startsWith('-'));
  let failed = false;
  if (args.includes('--repair')) {
    const { actions, errors } = await repair(ctx, only);
    for (const a of actions) process.stdout.write(`${a}\n`);
    for (const e of errors) process.stderr.write(`natns: ${e}\n`);
    if (actions.length === 0 && errors.length === 0) process.stdout.write('nothing to repair\n');
    failed = errors.length > 0;
  }
  // After a repair, what is still wrong: the parts it could not fix.
  let libvirt: LibvirtNetworks | undefined;
  try {
    libvirt = await libvirtNetworks();
  } catch (err) {
    process.stderr.write(`natns: could not ask libvirt which networks are active (${errorText(err)}); checked against natns's own records only\n`);
  }
  const findings = await check(ctx, only, libvirt);
  for (const f of findings) process.stdout.write(`${f.network ? `${f.network}: ` : ''}${f.what}\n`);
  if (findings.length === 0 && !args.includes('--repair')) process.stdout.write('ok: the kernel matches the plan\n');
  return failed || findings.length ? 1 : 0;
}
