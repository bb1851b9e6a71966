/**
 * /etc/libvirt/hooks/qemu.d/natns. In qemu.d the stdout of one script feeds the next, so this
 * hook prints nothing on stdout. Guests without natns metadata exit before natns is loaded.
 */
import { runHook } from './hook-loader.js';
import { readStdin } from './stdin.js';

async function main(): Promise<void> {
  const [, , name, op, sub] = process.argv;
  const event = `${op} ${sub}`;
  if (event === 'start begin' || event === 'reconnect begin' || event === 'stopped end' || event === 'release end') {
    const stdin = await readStdin();
    if (!stdin.includes('urn:natns:guest:1')) return;
    await runHook(__dirname, (core) => core.runQemuHook([name ?? '', op ?? '', sub ?? ''], stdin));
  }
}

void main();
