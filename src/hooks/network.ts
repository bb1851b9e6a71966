import { makeContext } from '../core/context.js';
import { dropBridgeAfterFailedStart, prepareNetwork, startNetwork, stopNetwork, type NatNetwork } from '../core/network.js';
import { errorText, NatnsError } from '../errors.js';
import { spawned } from '../kernel/exec.js';
import { readNetworkHookCall } from '../libvirt/hook-input.js';
import { log } from '../log.js';

/**
 * The libvirt network hook. Everything it needs is on stdin: calling back into libvirt from a
 * hook deadlocks the daemon. Returns the exit code; stderr carries one line for the admin.
 */
export async function runNetworkHook(argv: string[], stdin: string): Promise<number> {
  const started = process.hrtime.bigint();
  const [name, op, sub] = argv;
  try {
    const call = readNetworkHookCall(argv, stdin);
    if (call.network.nat === undefined) return 0;
    const net = call.network as NatNetwork;
    const ctx = makeContext();
    const event = `${op} ${sub}`;
    if (event === 'start begin') {
      const record = await prepareNetwork(net, ctx);
      done(event, net, started, { upstream: record.upstream.address });
    } else if (event === 'started begin') {
      try {
        const result = await startNetwork(net, ctx);
        done(event, net, started, { upstream: result.record.upstream.address, changes: result.changes.differences.length });
      } catch (err) {
        await dropBridgeAfterFailedStart(net.bridge).catch((e: unknown) => {
          log().error('could not remove bridge after failed start', { network: net.name, error: errorText(e) });
        });
        throw err;
      }
    } else if ((op === 'port-created' || op === 'port-deleted') && call.port) {
      const ports = ctx.ports(net.uuid);
      if (op === 'port-created') ports.write(call.port.uuid, { port: call.port.uuid, vm: call.port.vm, vmUuid: call.port.vmUuid, mac: call.port.mac });
      else ports.remove(call.port.uuid);
    } else if (event === 'stopped end') {
      await stopNetwork(net, ctx);
      done(event, net, started, {});
    }
    return 0;
  } catch (err) {
    const message = errorText(err);
    process.stderr.write(`natns: ${message}\n`);
    log().error(message, { hook: 'network', network: name, event: `${op} ${sub}`, cause: causeText(err) });
    return err instanceof NatnsError ? err.exitCode : 1;
  }
}

function done(event: string, net: NatNetwork, started: bigint, extra: Record<string, unknown>): void {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log().info(`network ${event}`, { network: net.name, uuid: net.uuid, ms: Math.round(ms * 10) / 10, processes: spawned.count, ...extra });
}

function causeText(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  if (cause === undefined) return undefined;
  const c = cause as { stderr?: string; message?: string };
  return c.stderr ?? c.message ?? String(cause);
}
