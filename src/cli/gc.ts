import { makeContext } from '../core/context.js';
import { releaseUndefined } from '../core/reconcile.js';

export async function run(options: { dryRun?: boolean; json?: boolean }): Promise<number> {
  const { actions, errors } = await releaseUndefined(makeContext(), undefined, { dryRun: options.dryRun === true });
  if (options.json) process.stdout.write(JSON.stringify({ dryRun: options.dryRun === true, actions, errors }, null, 2) + '\n');
  else for (const a of actions) process.stdout.write(`${a}\n`);
  for (const e of errors) process.stderr.write(`natns: ${e}\n`);
  return errors.length ? 1 : 0;
}
