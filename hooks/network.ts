/**
 * /etc/libvirt/hooks/network.d/natns. Most calls are for events or networks natns ignores, so
 * those exit before the rest of natns is even loaded.
 */
import { readStdin } from './stdin.js';

const [, , name, op, sub] = process.argv;
const event = `${op} ${sub}`;
if (event === 'start begin' || event === 'started begin' || event === 'stopped end' || op === 'port-created' || op === 'port-deleted') {
  const stdin = await readStdin();
  if (stdin.includes('urn:natns:network:1')) {
    const { runNetworkHook } = await import('../src/hooks/network.js');
    process.exitCode = await runNetworkHook([name ?? '', op ?? '', sub ?? ''], stdin);
  }
}
