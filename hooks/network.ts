/**
 * /etc/libvirt/hooks/network.d/natns. Most calls are for events or networks natns ignores, so
 * those exit before the rest of natns is even loaded. Built as CommonJS: Node starts a script
 * about 15 ms sooner than an ES module, and libvirt waits for every hook call.
 */
import { runHook } from './hook-loader.js';
import { readStdin } from './stdin.js';

async function main(): Promise<void> {
  const [, , name, op, sub] = process.argv;
  const event = `${op} ${sub}`;
  if (process.argv.length === 3 && name === '--warm-code-cache') {
    await runHook(__dirname, async (core) => {
      await core.warmHookCode();
      return 0;
    });
  } else if (event === 'start begin' || event === 'started begin' || event === 'stopped end' || op === 'port-created' || op === 'port-deleted') {
    const stdin = await readStdin();
    // At start, anything mentioning natns goes on, so a mistyped namespace is refused in words.
    if (!stdin.includes('urn:natns:network:1') && !(event === 'start begin' && /natns/i.test(stdin))) return;
    await runHook(__dirname, (core) => core.runNetworkHook([name ?? '', op ?? '', sub ?? ''], stdin));
  }
}

void main();
