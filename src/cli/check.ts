import { makeContext } from '../core/context.js';
import { check, libvirtNetworks, repair, type Finding, type LibvirtNetworks } from '../core/reconcile.js';
import { findNetwork } from '../core/lookup.js';
import { errorText, InputError } from '../domain/errors.js';

export async function run(only: string | undefined, options: { repair?: boolean; dryRun?: boolean; json?: boolean }): Promise<number> {
  if (options.dryRun && !options.repair) throw new InputError("--dry-run goes with --repair (check alone changes nothing); see 'natns check --help'");
  const ctx = makeContext();
  // A name natns holds no record of is a typo or a network it never built, not a clean bill.
  if (only !== undefined) findNetwork(ctx, only, 'check');
  const dryRun = options.dryRun === true;
  let repaired: { actions: string[]; errors: string[] } | undefined;
  if (options.repair) {
    repaired = await repair(ctx, only, { dryRun });
    if (!options.json) {
      for (const a of repaired.actions) process.stdout.write(`${a}\n`);
      if (repaired.actions.length === 0 && repaired.errors.length === 0) process.stdout.write(dryRun ? 'nothing would be repaired\n' : 'nothing to repair\n');
    }
    for (const e of repaired.errors) process.stderr.write(`natns: ${e}\n`);
  }
  // After a repair, what is still wrong: the parts it could not fix.
  let libvirt: LibvirtNetworks | undefined;
  try {
    libvirt = await libvirtNetworks();
  } catch (err) {
    process.stderr.write(`natns: could not ask libvirt which networks are active (${errorText(err)}); checked against natns's own records only\n`);
  }
  const findings: Finding[] = await check(ctx, only, libvirt);
  if (options.json) {
    process.stdout.write(JSON.stringify({ ...(repaired ? { repair: { dryRun, ...repaired } } : {}), findings }, null, 2) + '\n');
  } else {
    for (const f of findings) process.stdout.write(`${f.network ? `${f.network}: ` : ''}${f.what}\n`);
    if (findings.length === 0 && !options.repair) process.stdout.write('ok: the kernel matches the plan\n');
  }
  return (repaired?.errors.length ?? 0) > 0 || findings.length ? 1 : 0;
}
