import { makeContext } from '../core/context.js';
import { dropBridgeAfterFailedStart, prepareNetwork, startNetwork, stopNetwork } from '../core/network.js';
import { errorText, InputError, NatnsError } from '../domain/errors.js';
import { upstreamText, type NetworkSpec } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { NETWORK_NS_URI } from '../libvirt/network-xml.js';
import { readNetworkHookCall } from '../libvirt/hook-input.js';
import { log } from '../sys/log.js';
import { spawned } from '../sys/run.js';
import { logSkipped } from './skipped.js';
import { toStderr, type Stderr } from './stderr.js';

/**
 * The libvirt network hook. Everything it needs is on stdin: calling back into libvirt from a
 * hook deadlocks the daemon. Returns the exit code; stderr carries one line for the admin.
 */
export async function runNetworkHook(argv: string[], stdin: string, stderr: Stderr = toStderr): Promise<number> {
  const started = { at: process.hrtime.bigint(), spawned: spawned.count };
  const [name, op, sub] = argv;
  try {
    const call = readNetworkHookCall(argv, stdin);
    const net = call.network.spec;
    // A typo in the namespace would give a plain bridge and no word: refuse it before it starts.
    if (net === undefined && call.network.lookalike && op === 'start' && sub === 'begin') {
      throw new InputError(`network '${printable(call.network.name)}': ${printable(call.network.lookalike)} looks like natns metadata, but natns reads only <natns:nat xmlns:natns="${NETWORK_NS_URI}">; ` +
        'fix the namespace (or remove the element) and start the network again');
    }
    if (net === undefined) return 0;
    const ctx = makeContext();
    const event = `${op} ${sub}`;
    if (event === 'start begin') {
      const record = await prepareNetwork(net, ctx);
      done(event, net, started, { upstream: upstreamText(record) });
    } else if (event === 'started begin') {
      try {
        const result = await startNetwork(net, ctx);
        // A guest left off the bridge is the log's and check's to tell; the router itself is up.
        if (result.guests.error) log().error(result.guests.error, { hook: 'network', network: net.name, event });
        done(event, net, started, {
          upstream: upstreamText(result.record), changes: result.changes.differences.length,
          ...(result.guests.plugged.length ? { plugged: result.guests.plugged } : {}),
        });
      } catch (err) {
        await dropBridgeAfterFailedStart(net.bridge).catch((e: unknown) => {
          log().error('could not remove bridge after failed start', { network: net.name, error: errorText(e) });
        });
        throw err;
      }
    } else if ((op === 'port-created' || op === 'port-deleted') && call.port) {
      const ports = ctx.network(net).ports;
      if (op === 'port-created') ports.write(call.port.port, call.port);
      else ports.remove(call.port.port);
    } else if (event === 'stopped end') {
      await stopNetwork(net, ctx);
      done(event, net, started, {});
    }
    return 0;
  } catch (err) {
    const message = errorText(err);
    stderr(`natns: ${message}\n`);
    // The log's error lines start with the network's name, as `natns logs NETWORK` shows them.
    log().error(`${printable(name ?? '?')}: ${message}`, { hook: 'network', network: name, event: `${op} ${sub}`, cause: causeText(err) });
    return err instanceof NatnsError ? err.exitCode : 1;
  } finally {
    logSkipped('network', `${op} ${sub}`);
  }
}

/** `started`: when the call began and how many processes had been spawned (the agent serves many calls). */
function done(event: string, net: NetworkSpec, started: { at: bigint; spawned: number }, extra: Record<string, unknown>): void {
  const ms = Number(process.hrtime.bigint() - started.at) / 1e6;
  log().info(`network ${event}`, { network: net.name, uuid: net.uuid, ms: Math.round(ms * 10) / 10, processes: spawned.count - started.spawned, ...extra });
}

function causeText(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  if (cause === undefined) return undefined;
  const c = cause as { stderr?: string; message?: string };
  return c.stderr ?? c.message ?? String(cause);
}
