/**
 * Crash-test hook: with NATNS_TEST_ABORT_AT=N the process kills itself (SIGKILL, like a crash
 * or an OOM kill) at the N-th checkpoint. libvirt passes hooks only PATH, HOME and LC_ALL, so
 * this cannot be set by accident from there; the crash tests set it to walk through every step.
 */
let reached = 0;

export function checkpoint(): void {
  const at = process.env.NATNS_TEST_ABORT_AT;
  if (at === undefined) return;
  reached += 1;
  if (String(reached) === at) process.kill(process.pid, 'SIGKILL');
}
