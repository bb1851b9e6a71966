import { makeContext } from '../core/context.js';
import { releaseUndefined } from '../core/reconcile.js';

export const help = `Usage: natns gc

Return the upstream addresses of networks that libvirt no longer defines, and the public (1:1)
addresses of guests it no longer defines, to their pools. libvirt runs no hook on undefine, so
a lease stays reserved until this runs (by hand, or at boot through natns check --repair).
A network whose router still exists is kept. Every failure is reported; the rest carries on.
`;

export async function run(): Promise<number> {
  const { actions, errors } = await releaseUndefined(makeContext());
  for (const a of actions) process.stdout.write(`${a}\n`);
  for (const e of errors) process.stderr.write(`natns: ${e}\n`);
  return errors.length ? 1 : 0;
}
