import { execa } from 'execa';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { defineNet, expectStarted, netDestroy, netStart, poolSandbox } from '../helpers/hooknet.js';
import { CLI, type Sandbox } from '../helpers/sandbox.js';

/** natns logs: natns's own log for one network, error lines starting with its name, and -f across a rotation. */
let sb: Sandbox;

beforeEach(async () => {
  ({ sb } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const logPath = () => join(sb.env.NATNS_LOG_DIR!, 'natns.log');

test('logs NETWORK shows that network\'s events and errors only, each line starting with its name after time and level', async () => {
  const [n1, n2] = [defineNet(sb, '1'), defineNet(sb, '2')];
  const bad = defineNet(sb, '3', { upstream: '<natns:upstream pool="nosuch"/>' });
  await expectStarted(sb, n1);
  await expectStarted(sb, n2);
  expect((await netStart(sb, bad)).exitCode).toBe(2);

  // The hook's error line in the log starts with the network's name.
  const raw = readFileSync(logPath(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; message: string });
  expect(raw.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([`${bad.name}: upstream pool 'nosuch' is not defined in the natns config (defined: default)`]);

  const one = await sb.cli(['logs', n1.name]);
  expect(one.exitCode).toBe(0);
  const lines = one.stdout.split('\n');
  expect(lines).toEqual([
    expect.stringMatching(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z info  ${n1.name}: network start begin \\(ms=[\\d.]+, processes=\\d+, upstream=198\\.51\\.100\\.100, uuid=${n1.uuid}\\)$`)),
    expect.stringMatching(new RegExp(`^\\S+ info  ${n1.name}: network started begin \\(changes=\\d+, ms=[\\d.]+, processes=\\d+, upstream=198\\.51\\.100\\.100, uuid=${n1.uuid}\\)$`)),
  ]);
  expect((await sb.cli(['logs', bad.name])).stdout).toMatch(new RegExp(`^\\S+ error ${bad.name}: upstream pool 'nosuch' is not defined .*\\(event=start begin\\)$`));
  const all = (await sb.cli(['logs'])).stdout.split('\n');
  expect(all).toHaveLength(5);
  expect((await sb.cli(['logs', n2.name, '-n', '1'])).stdout).toMatch(/network started begin/);
  const json = JSON.parse((await sb.cli(['logs', n2.name, '--json'])).stdout) as { network: string }[];
  expect(json.map((e) => e.network)).toEqual([n2.name, n2.name]);
  expect((await sb.cli(['logs', sb.name('none')])).stdout).toBe('');
  expect((await sb.cli(['logs', '-n', 'x'])).exitCode).toBe(2);
});

test('logs -f prints new lines as hooks write them, also after the log is rotated, and stops on SIGTERM', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const follower = execa(CLI, ['logs', net.name, '-f'], { reject: false, env: sb.env, buffer: false });
  sb.children.push(follower);
  let out = '';
  follower.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(re);
  };
  await waitFor(/network started begin/);
  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  await waitFor(/network stopped end/);
  // logrotate without copytruncate: the file is renamed and natns's next line makes a new one.
  renameSync(logPath(), `${logPath()}.1`);
  await expectStarted(sb, net);
  await waitFor(/stopped end[\s\S]*network start begin[\s\S]*network started begin/);
  follower.kill('SIGTERM');
  const r = await follower;
  expect(r.exitCode).toBe(0);
  expect(out.split('\n').filter(Boolean).map((l) => / (network \S+ \S+) /.exec(l)?.[1])).toEqual([
    'network start begin', 'network started begin', 'network stopped end', 'network start begin', 'network started begin',
  ]);
});
