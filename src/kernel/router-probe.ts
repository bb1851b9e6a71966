import { existsSync } from 'node:fs';
import { NatnsError } from '../domain/errors.js';
import type { NamespaceProbe } from '../plan/quick-state.js';
import { run } from '../sys/run.js';
import probeScript from './router-probe.py';

// The distribution's own interpreter, started isolated (-I) and without site packages (-S): a
// version manager's shim in PATH can cost more than the whole probe.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * Many namespaces in one process (a process per namespace would cost ~10 ms each). Read-only.
 * Throws when the probe itself cannot run (no python3), with the words to say so.
 */
export async function probeNamespaces(names: string[]): Promise<Map<string, NamespaceProbe>> {
  const out = new Map<string, NamespaceProbe>();
  if (names.length === 0) return out;
  const r = await run(PYTHON, ['-I', '-S', '-c', probeScript, ...names]);
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').pop() || `exit code ${r.exitCode}`;
    throw new NatnsError(`could not read the routers' namespaces with ${PYTHON} (${why}); install python3 (./install.sh does)`);
  }
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const p = JSON.parse(line) as NamespaceProbe & { ns: string };
    out.set(p.ns, p);
  }
  return out;
}
