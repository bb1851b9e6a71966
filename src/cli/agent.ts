import { runAgent } from '../agent/agent.js';
import { makeContext } from '../core/context.js';
import { liveAgent, stretchOf } from '../core/role.js';
import { InputError } from '../domain/errors.js';
import { wholeNumber } from '../domain/validate.js';
import { table } from './output.js';

/** Whether the agent runs, and which host's router is active for each stretched network. */
export async function status(options: { json?: boolean }): Promise<number> {
  const ctx = makeContext();
    const pid = liveAgent(ctx.stateDir);
  const nets = ctx.records.list().filter((r) => r.vxlan !== undefined).map((r) => {
    const { active, host, since } = stretchOf(r, ctx.stateDir);
    return { network: r.name, phase: r.phase, active, host, since };
  });
  if (options.json) {
    process.stdout.write(JSON.stringify({ running: pid !== undefined, pid: pid ?? null, networks: nets }, null, 2) + '\n');
  } else {
    process.stdout.write(pid !== undefined ? `natns agent runs (pid ${pid})\n` : 'natns agent does not run\n');
    if (nets.length) {
      process.stdout.write(table(['NETWORK', 'PHASE', 'HERE', 'ACTIVE HOST', 'SINCE'],
        nets.map((n) => [n.network, n.phase, n.active ? 'active' : 'standby', n.host ?? '-', n.since ?? '-'])));
    }
  }
  return pid !== undefined ? 0 : 3;
}

export async function run(options: { ttl: string }): Promise<number> {
  const ctx = makeContext();
  const ttl = wholeNumber(options.ttl, '--ttl', 1, 60);
  if (liveAgent(ctx.stateDir) !== undefined) throw new InputError(`natns agent already runs on this host (pid ${liveAgent(ctx.stateDir)})`);
  const stop = new AbortController();
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => stop.abort());
  await runAgent(ctx, { ttl, tick: 200, log: (l) => process.stdout.write(`${new Date().toISOString()} ${l}\n`) }, stop.signal);
  return 0;
}
