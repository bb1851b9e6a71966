import { makeContext } from '../core/context.js';
import { startGuest, stopGuest } from '../core/guest.js';
import { errorText, InputError, NatnsError } from '../domain/errors.js';
import { readDomain } from '../libvirt/domain-xml.js';
import { child, parseXml } from '../libvirt/xml.js';
import { printable } from '../domain/text.js';
import { log } from '../sys/log.js';
import { logSkipped } from './skipped.js';
import { toStderr, type Stderr } from './stderr.js';

/**
 * The libvirt qemu hook. It must print nothing on stdout (in qemu.d one script's output feeds
 * the next), and it must never fail `reconnect`: libvirt kills a guest whose reconnect hook fails.
 */
export async function runQemuHook(argv: string[], stdin: string, stderr: Stderr = toStderr): Promise<number> {
  const [name, op, sub] = argv;
  const event = `${op} ${sub}`;
  try {
    const domain = child(parseXml(stdin, 'qemu hook input'), 'domain');
    if (!domain) throw new InputError('qemu hook input has no <domain>');
    const guest = readDomain(domain).spec;
    if (guest === undefined) return 0;
    const ctx = makeContext();
    if (event === 'start begin' || event === 'reconnect begin') {
      const nets = await startGuest(guest, ctx);
      log().info(`guest ${event}`, { guest: guest.name, uuid: guest.uuid, networks: nets.map((n) => n.name) });
    } else if (event === 'stopped end' || event === 'release end') {
      await stopGuest(guest, ctx);
      log().info(`guest ${event}`, { guest: guest.name, uuid: guest.uuid });
    }
    return 0;
  } catch (err) {
    const message = errorText(err);
    log().error(`${printable(name ?? '?')}: ${message}`, { hook: 'qemu', guest: name, event });
    if (event === 'reconnect begin') return 0;
    stderr(`natns: ${message}\n`);
    return err instanceof NatnsError ? err.exitCode : 1;
  } finally {
    logSkipped('qemu', event);
  }
}
