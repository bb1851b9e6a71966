import { runAgent } from '../agent/agent.js';
import { makeContext } from '../core/context.js';
import { liveAgent, readRole } from '../core/role.js';
import { InputError } from '../domain/errors.js';
import { wholeNumber } from '../domain/validate.js';
import { table } from './output.js';

export const help = `Usage: natns agent [--ttl SECONDS]
       natns agent status [--json]

natns agent runs in the foreground, one per host (natns-agent.service under systemd). For
each stretched network (<natns:vxlan>) running on this host it campaigns in etcd for the
network's one active router, makes this host's router active when it wins and keeps it on
standby (both sides down) otherwise. A stretched network does not start without it.
  --ttl SECONDS  the etcd lease of this host's elections (default 2): a dead host's router
                 is replaced after about this long.

status: whether the agent runs, and for each stretched network which host is active since when.
`;

export async function run(args: string[]): Promise<number> {
  const ctx = makeContext();
  if (args[0] === 'status') {
    const pid = liveAgent(ctx.stateDir);
    const nets = ctx.records.list().filter((r) => r.vxlan !== undefined).map((r) => {
      const role = readRole(ctx.stateDir, r.uuid);
      return { network: r.name, phase: r.phase, active: r.phase === 'running' && role.active, host: role.host ?? null, since: role.since ?? null };
    });
    if (args.includes('--json')) {
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
  let ttl = 2;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--ttl') ttl = wholeNumber(args[++i] ?? '', '--ttl', 1, 60);
    else throw new InputError(`natns agent: unknown option '${args[i]}' (see natns agent --help)`);
  }
  if (liveAgent(ctx.stateDir) !== undefined) throw new InputError(`natns agent already runs on this host (pid ${liveAgent(ctx.stateDir)})`);
  const stop = new AbortController();
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => stop.abort());
  await runAgent(ctx, { ttl, tick: 200, log: (l) => process.stdout.write(`${new Date().toISOString()} ${l}\n`) }, stop.signal);
  return 0;
}
