/**
 * `virsh net-start` / `net-destroy` through the real libvirtd, natns against libvirt's own NAT:
 *   libvirt NAT: <forward mode='nat'/> with an <ip> and a DHCP range (libvirt's dnsmasq, its firewall rules)
 *   natns:       an isolated network with natns metadata and <natns:dhcp>, a fixed upstream on a
 *                provider bridge made here; libvirt runs the installed natns hook, which builds the router
 * Alternated within each round, medians. libvirt runs every installed network hook for every
 * network, so the libvirt NAT figure here includes the natns hook ignoring it; that cost is measured
 * too (the installed hook, an event it ignores) so the report can say how large it is.
 * Everything is named `bv<pid>-…` and removed on the way out, also after a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const ROUNDS = Number(process.env.BENCH_VIRSH_ROUNDS ?? 10);
const HOOK = '/etc/libvirt/hooks/network.d/natns';
const VIRSH = ['-c', 'qemu:///system'];

interface Run { ok: boolean; out: string; err: string; ms: number }

function run(cmd: string, args: string[], input = '', env?: NodeJS.ProcessEnv): Run {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', env });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? String(r.error ?? '')).trim(), ms: Number(process.hrtime.bigint() - t) / 1e6 };
}

function virsh(...args: string[]): Run {
  const r = run('virsh', [...VIRSH, ...args]);
  if (!r.ok) throw new Error(`virsh ${args.join(' ')}: ${r.err}`);
  return r;
}

/** A 172.16.X.0/24 no route on this host mentions yet, for libvirt's NAT network. */
function freeSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']).out;
  for (let x = 213; x < 255; x++) if (!routes.includes(`172.16.${x}.`)) return `172.16.${x}`;
  throw new Error('no free 172.16.X.0/24 for the libvirt NAT network');
}

/** Why natns cannot be measured through libvirt here, or undefined when it can. */
function natnsUnavailable(): string | undefined {
  return existsSync(HOOK) ? undefined : 'natns hooks not installed';
}

/** Whether the installed hooks are the ones this tree builds (the figure is for what is installed). */
function hooksMatchBuild(): boolean | undefined {
  try {
    const installed = join(dirname(readlinkSync(HOOK)), 'hook-core.cjs');
    return readFileSync(installed, 'utf8') === readFileSync('dist/hook-core.cjs', 'utf8');
  } catch {
    return undefined;
  }
}

export async function virshStart() {
  if (!run('virsh', [...VIRSH, 'uri']).ok) throw new Error('libvirtd is not reachable (virsh -c qemu:///system uri failed)');
  const id = `bv${process.pid.toString(16)}`;
  const nat = `${id}-nat`;
  const ns = `${id}-ns`;
  const provider = `${id}-pb`;
  const unavailable = natnsUnavailable();
  const net = freeSubnet();
  const natXml = `<network><name>${nat}</name><forward mode='nat'/><bridge name='${id}-b0'/>
<ip address='${net}.1' netmask='255.255.255.0'><dhcp><range start='${net}.100' end='${net}.199'/></dhcp></ip></network>`;
  const nsXml = `<network><name>${ns}</name><bridge name='${id}-b1'/><metadata><natns:nat xmlns:natns="urn:natns:network:1">
<natns:private address="10.0.0.1" prefix="24"/>
<natns:upstream bridge="${provider}" address="10.213.0.10" prefix="24" gateway="10.213.0.1"/>
<natns:dhcp start="10.0.0.100" end="10.0.0.199"/></natns:nat></metadata></network>`;
  const plainXml = `<hookData><network><name>${id}-plain</name><uuid>${randomUUID()}</uuid><bridge name='${id}-b9'/></network></hookData>`;
  const defined: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'natns-virsh-'));
  const s: Record<string, number[]> = { natStart: [], natDestroy: [], natnsStart: [], natnsDestroy: [], hooksStart: [], hooksDestroy: [], aloneNatStart: [], aloneNatDestroy: [], hookIgnored: [] };
  // natns is measured as a host runs it best, with `natns agent` serving the hooks, and with the
  // hooks alone. An agent that already runs here is the admin's: then only the first is measured.
  const external = unavailable ? undefined : runningAgent();
  let agentFigures: { rssMiB: number; idleCpuPercent: number } | undefined;
  try {
    const define = (name: string, xml: string) => {
      writeFileSync(join(dir, `${name}.xml`), xml);
      const r = run('virsh', [...VIRSH, 'net-define', join(dir, `${name}.xml`)]);
      if (!r.ok) throw new Error(`virsh net-define ${name}: ${r.err}`);
      defined.push(name);
    };
    define(nat, natXml);
    if (!unavailable) {
      const r = run('ip', ['-batch', '-'], `link add ${provider} type bridge\nlink set ${provider} up\n`);
      if (!r.ok) throw new Error(`provider bridge ${provider}: ${r.err}`);
      define(ns, nsXml);
    }
    const variants = [{ name: nat, start: s.natStart!, destroy: s.natDestroy! }, ...(unavailable ? [] : [{ name: ns, start: s.natnsStart!, destroy: s.natnsDestroy! }])];
    // One untimed start and stop of each: libvirt's and the hook's first runs load more than later ones.
    for (const v of variants) { virsh('net-start', v.name); virsh('net-destroy', v.name); }
    // Alternate which goes first, so a slow moment of the machine does not always hit one of them.
    const rounds = async (label: string, natStart: number[], natDestroy: number[], start: number[], destroy: number[]) => {
      const pairs = [{ name: nat, start: natStart, destroy: natDestroy }, ...(unavailable ? [] : [{ name: ns, start, destroy }])];
      for (let i = 0; i < ROUNDS; i++) {
        for (const v of i % 2 ? [...pairs].reverse() : pairs) {
          progress.round(i + 1, ROUNDS, v.name === nat ? 'libvirt NAT' : label);
          v.start.push(virsh('net-start', v.name).ms);
          v.destroy.push(virsh('net-destroy', v.name).ms);
        }
        if (!unavailable) {
          // In the environment libvirtd gives its hooks: node reads NODE_EXTRA_CA_CERTS and the like
          // at start-up, which a shell's environment may hold and costs tens of ms.
          const hookEnv = { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root' };
          const h = run(HOOK, [`${id}-plain`, 'started', 'begin', '-'], plainXml, hookEnv);
          if (h.ok) s.hookIgnored!.push(h.ms);
        }
      }
    };
    if (unavailable || external !== undefined) {
      await rounds('natns', s.natStart!, s.natDestroy!, s.natnsStart!, s.natnsDestroy!);
    } else {
      // Two blocks, each against libvirt NAT in its own rounds: the hooks alone, then one agent
      // (warm, as a host keeps it) serving them.
      await rounds('natns, hooks alone', s.aloneNatStart!, s.aloneNatDestroy!, s.hooksStart!, s.hooksDestroy!);
      const agent = await startAgent();
      try {
        virsh('net-start', ns);
        virsh('net-destroy', ns);
        await rounds('natns with its agent', s.natStart!, s.natDestroy!, s.natnsStart!, s.natnsDestroy!);
        // Warm and idle now: what it holds, and whether it spends anything while nothing happens.
        agentFigures = await idleFigures(agent);
      } finally {
        await stopAgent(agent);
      }
    }
  } finally {
    for (const name of defined) {
      run('virsh', [...VIRSH, 'net-destroy', name]);
      run('virsh', [...VIRSH, 'net-undefine', name]);
    }
    if (defined.includes(ns)) {
      // libvirt runs no hook on undefine: natns keeps the network's record until it is released.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NATNS_')));
      const cli = join(dirname(readlinkSync(HOOK)), 'natns.mjs');
      run(process.execPath, [cli, 'release', ns], '', env);
    }
    run('ip', ['-force', '-batch', '-'], `link del ${provider}\nlink del ${id}-b0\nlink del ${id}-b1\n`);
    rmSync(dir, { recursive: true, force: true });
  }
  const m = (k: string) => (s[k]!.length ? round(median(s[k]!)) : undefined);
  const version = /daemon: (\S+)/.exec(run('virsh', [...VIRSH, 'version', '--daemon']).out)?.[1];
  return {
    rounds: ROUNDS,
    libvirtVersion: version,
    libvirtNat: { startMs: m('natStart')!, destroyMs: m('natDestroy')! },
    natns: unavailable ? { notMeasured: unavailable } : { startMs: m('natnsStart')!, destroyMs: m('natnsDestroy')!, agent: external !== undefined ? 'already running' : 'started by the bench' },
    hooksAlone: s.hooksStart!.length
      ? { startMs: m('hooksStart')!, destroyMs: m('hooksDestroy')!, libvirtNat: { startMs: m('aloneNatStart')!, destroyMs: m('aloneNatDestroy')! } }
      : { notMeasured: unavailable ?? 'natns agent already runs on this host' },
    ...(agentFigures ? { agent: agentFigures } : {}),
    hooksMatchBuild: unavailable ? undefined : hooksMatchBuild(),
    // What libvirt NAT pays here for natns being installed: the hook runs (and ignores it) on
    // `start` and `started` of every start, and on `stopped` of every destroy.
    hookIgnoredMs: m('hookIgnored'),
  };
}

const AGENT_PID = '/var/lib/natns/agent.pid';

/** The pid of a natns agent running on this host, if any. */
function runningAgent(): number | undefined {
  try {
    const pid = Number(readFileSync(AGENT_PID, 'utf8').trim());
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The installed `natns agent`, as an admin starts it without systemd; resolves once it serves. */
async function startAgent(): Promise<number> {
  const cli = join(dirname(readlinkSync(HOOK)), 'natns.mjs');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NATNS_') && k !== 'NODE_EXTRA_CA_CERTS'));
  const child = spawn(process.execPath, [cli, 'agent'], { detached: true, stdio: 'ignore', env });
  child.unref();
  for (let i = 0; i < 100; i++) {
    if (runningAgent() === child.pid && existsSync('/var/lib/natns/agent.sock')) return child.pid!;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('natns agent did not start within 5 s');
}

async function stopAgent(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
}

/** The agent's resident memory and its CPU over 3 idle seconds, as a share of one core. */
async function idleFigures(pid: number): Promise<{ rssMiB: number; idleCpuPercent: number }> {
  const ticks = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  // Idle: a second after the last call (V8 finishes compiling what the calls made hot), for 3 s.
  await new Promise((r) => setTimeout(r, 1000));
  const before = ticks();
  await new Promise((r) => setTimeout(r, 3000));
  const cpu = (ticks() - before) / hz / 3;
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { rssMiB: round(rssKiB / 1024), idleCpuPercent: round(cpu * 100) };
}
