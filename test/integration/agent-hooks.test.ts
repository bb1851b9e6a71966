import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineNet, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { CLI, repoRoot, sh, type Sandbox } from '../helpers/sandbox.js';

/**
 * The hook shims libvirt runs (dist/hook-network.sh): events natns ignores end in the shell;
 * the rest go to `natns agent` over its socket when it runs, else to the Node hook. A `node` on
 * PATH that leaves a mark each time it starts tells which way a call went.
 */
const SHIM = join(repoRoot, 'dist', 'hook-network.sh');

let sb: Sandbox;
let bin: string;

beforeEach(async () => {
  ({ sb } = await poolSandbox(true));
  bin = join(sb.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'node'), `#!/bin/sh\necho "$*" >> '${join(sb.dir, 'node-started')}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
});

afterEach(async () => {
  await sb.cleanup();
});

function shim(net: TestNet, op: string, sub: string, env: Record<string, string> = {}) {
  return execa(SHIM, [net.name, op, sub, '-'], { input: net.xml, reject: false, env: { ...sb.env, PATH: `${bin}:${process.env.PATH}`, ...env } });
}

/** How many Node processes the shims started since the last look. */
function nodeStarts(): number {
  const file = join(sb.dir, 'node-started');
  const n = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').length : 0;
  rmSync(file, { force: true });
  return n;
}

/** The agent, wrapped: an execa process is a thenable, which an async function would wait for. */
async function startAgent(): Promise<{ agent: ReturnType<typeof execa> }> {
  const agent = execa(process.execPath, [CLI, 'agent'], { reject: false, env: sb.env, all: true });
  sb.children.push(agent);
  // Its pid file appears once its socket listens.
  for (let i = 0; i < 50 && (await sb.cli(['agent', 'status'])).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect((await sb.cli(['agent', 'status'])).exitCode).toBe(0);
  return { agent };
}

async function start(net: TestNet, env: Record<string, string> = {}) {
  const begin = await shim(net, 'start', 'begin', env);
  if (begin.exitCode !== 0) return begin;
  await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  await sh('ip', ['link', 'set', net.bridge, 'up']);
  return shim(net, 'started', 'begin', env);
}

async function stop(net: TestNet) {
  await sh('ip', ['link', 'del', net.bridge]);
  return shim(net, 'stopped', 'end');
}

/** The pids the log names for a network's hook events. */
function loggedPids(net: TestNet): number[] {
  const file = join(sb.env.NATNS_LOG_DIR!, 'natns.log');
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { network?: string; pid: number })
    .filter((l) => l.network === net.name).map((l) => l.pid);
}

test('events and networks natns ignores end in the shell: no Node starts', async () => {
  const plain = { ...defineNet(sb, '1'), xml: '<hookData><network><name>other</name><uuid>3f8e1c6a-0d6e-4b64-9d0c-0a3a3f5b1c11</uuid></network></hookData>' };
  for (const [op, sub] of [['start', 'begin'], ['started', 'begin'], ['stopped', 'end'], ['updated', 'begin'], ['port-created', 'begin']]) {
    expect(await shim(plain, op!, sub!)).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  }
  const natns = defineNet(sb, '2');
  expect(await shim(natns, 'updated', 'begin')).toMatchObject({ exitCode: 0, stderr: '' });
  expect(nodeStarts()).toBe(0);
  // A mistyped namespace still reaches natns at start, to be refused in words.
  const typo = { ...natns, xml: natns.xml.replaceAll('urn:natns:network:1', 'urn:natns:network:2') };
  const r = await shim(typo, 'start', 'begin');
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/^natns: network '[^']*': .* looks like natns metadata.*urn:natns:network:1/);
  expect(nodeStarts()).toBe(1);
});

test('with the agent running, starts, refusals and stops are served by it: no Node starts, the same words and codes', async () => {
  const { agent } = await startAgent();
  const net = defineNet(sb, '1');
  expect(await start(net)).toMatchObject({ exitCode: 0, stderr: '' });
  const guest = await sb.host('g', net.bridge, '10.0.0.100/24', '10.0.0.1');
  expect(await sb.ping(guest, '198.51.100.1')).toBe(true);
  // Bad metadata: the agent's refusal is the Node hook's, word for word, with its exit code.
  const bad = defineNet(sb, '2', { upstream: '<natns:upstream pool="nosuchpool"/>' });
  const viaAgent = await shim(bad, 'start', 'begin');
  const viaNode = await sb.hook([bad.name, 'start', 'begin', '-'], bad.xml);
  expect(viaAgent.exitCode).toBe(2);
  expect({ code: viaAgent.exitCode, stderr: viaAgent.stderr }).toEqual({ code: viaNode.exitCode, stderr: viaNode.stderr });
  expect(viaAgent.stderr.split('\n')).toHaveLength(1);
  expect(await stop(net)).toMatchObject({ exitCode: 0, stderr: '' });
  expect(await sb.leftovers()).toEqual([]);
  expect(nodeStarts()).toBe(0);
  expect(new Set(loggedPids(net))).toEqual(new Set([agent.pid]));
});

test('without an agent, with a dead one, or with one that does not answer in time, the shim runs the Node hook itself', async () => {
  const net = defineNet(sb, '1');
  expect(await start(net)).toMatchObject({ exitCode: 0, stderr: '' });
  expect(nodeStarts()).toBe(2);
  expect(await stop(net)).toMatchObject({ exitCode: 0, stderr: '' });
  nodeStarts();

  // Killed: its socket file stays, nobody listens.
  const { agent: dead } = await startAgent();
  dead.kill('SIGKILL');
  await dead;
  expect(existsSync(join(sb.env.NATNS_STATE_DIR!, 'agent.sock'))).toBe(true);
  expect(await start(net)).toMatchObject({ exitCode: 0, stderr: '' });
  expect(nodeStarts()).toBe(2);

  // Stopped mid-life: the shim waits NATNS_AGENT_TIMEOUT seconds, then does the work itself. The
  // agent, let go again, runs the same call late: it finds nothing to change.
  const { agent: frozen } = await startAgent();
  process.kill(frozen.pid!, 'SIGSTOP');
  try {
    expect(await shim(net, 'started', 'begin', { NATNS_AGENT_TIMEOUT: '1' })).toMatchObject({ exitCode: 0, stderr: '' });
    expect(nodeStarts()).toBe(1);
  } finally {
    process.kill(frozen.pid!, 'SIGCONT');
  }
  await new Promise((r) => setTimeout(r, 1000));
  const check = await sb.cli(['check', net.name]);
  expect({ code: check.exitCode, out: check.stdout }).toMatchObject({ code: 0 });
  expect(await stop(net)).toMatchObject({ exitCode: 0, stderr: '' });
  expect(await sb.leftovers()).toEqual([]);
});
