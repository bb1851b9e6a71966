/**
 * /etc/libvirt/hooks/qemu.d/natns. In qemu.d the stdout of one script feeds the next, so this
 * hook prints nothing on stdout. Guests without natns metadata exit before natns is loaded.
 */
const [, , name, op, sub] = process.argv;
const event = `${op} ${sub}`;
if (event === 'start begin' || event === 'reconnect begin' || event === 'stopped end' || event === 'release end') {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const stdin = Buffer.concat(chunks).toString('utf8');
  if (stdin.includes('urn:natns:guest:1')) {
    const { runQemuHook } = await import('../src/hooks/qemu.js');
    process.exitCode = await runQemuHook([name ?? '', op ?? '', sub ?? ''], stdin);
  }
}
