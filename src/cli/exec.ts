import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants as os } from 'node:os';
import { execa } from 'execa';
import { makeContext } from '../core/context.js';
import { findNetwork } from '../core/lookup.js';
import { InputError, NatnsError } from '../domain/errors.js';

/**
 * Where the shell would find the program: `ip netns exec` shares the host's filesystem, and
 * answers a missing program with 255, which a script cannot tell from the program's own failure.
 */
function locate(program: string): 'found' | 'missing' | 'not executable' {
  const candidates = program.includes('/') ? [program] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, program));
  let seen = false;
  for (const path of candidates) {
    try {
      if (!statSync(path).isFile()) continue;
      seen = true;
      accessSync(path, constants.X_OK);
      return 'found';
    } catch {
      // Not here, or not executable here: try the next folder.
    }
  }
  return seen ? 'not executable' : 'missing';
}

export async function run(name: string, command: string[]): Promise<number> {
  if (command.length === 0) throw new InputError("natns exec: say what to run, as natns exec NETWORK -- COMMAND [ARG...]; see 'natns exec --help'");
  const ctx = makeContext();
  const record = findNetwork(ctx, name, 'exec');
  const { netns, names } = ctx.network(record);
  if (!netns.exists()) throw new InputError(`network ${record.name} is not running (no namespace ${names.namespace})`);
  const program = command[0]!;
  const found = locate(program);
  // The shell's codes: 127 not found, 126 found but not runnable.
  if (found === 'missing') throw new NatnsError(`exec: ${program}: program not found${program.includes('/') ? '' : ' in PATH'}`, { exitCode: 127 });
  if (found === 'not executable') throw new NatnsError(`exec: ${program}: not executable`, { exitCode: 126 });
  const r = await execa('ip', ['netns', 'exec', names.namespace, ...command], { stdio: 'inherit', reject: false });
  if (r.exitCode !== undefined) return r.exitCode;
  const signal = r.signal ? os.signals[r.signal as keyof typeof os.signals] : undefined;
  return signal ? 128 + signal : 1;
}
