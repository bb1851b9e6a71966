/**
 * /etc/libvirt/hooks/qemu.d/natns. In qemu.d the stdout of one script feeds the next, so this
 * hook prints nothing on stdout. Guests without natns metadata exit before natns is loaded.
 */
import { readStdin } from './stdin.js';

const [, , name, op, sub] = process.argv;
const event = `${op} ${sub}`;
if (event === 'start begin' || event === 'reconnect begin' || event === 'stopped end' || event === 'release end') {
  const stdin = await readStdin();
  if (stdin.includes('urn:natns:guest:1')) {
    const { runQemuHook } = await import('../src/hooks/qemu.js');
    process.exitCode = await runQemuHook([name ?? '', op ?? '', sub ?? ''], stdin);
  }
}
