import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defineNet, expectStarted, netDestroy, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { repoRoot, type Sandbox } from '../helpers/sandbox.js';

/**
 * The command line is commander's: every command says what it takes, refuses what it does not
 * (exit 2, one line naming the command), and everything that shows something can show it as JSON.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const COMMANDS = [['list'], ['show'], ['release'], ['check'], ['exec'], ['forward'], ['forward', 'list'], ['forward', 'add'], ['forward', 'remove'], ['gc'], ['ipam', 'migrate'], ['demo']];

test('every command takes --help (exit 0, its own usage), and --version prints the package version', async () => {
  for (const c of COMMANDS) {
    const r = await sb.cli([...c, '--help']);
    const wide = r.stdout.split('\n').filter((l) => l.length > 80);
    expect({ c, code: r.exitCode, usage: r.stdout.split('\n')[0]!.startsWith(`Usage: natns ${c.join(' ')} `), wide }).toEqual({ c, code: 0, usage: true, wide: [] });
  }
  const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;
  for (const flag of ['--version', '-V']) expect(await sb.cli([flag])).toMatchObject({ exitCode: 0, stdout: version });
  const help = await sb.cli(['--help']);
  expect(help.stdout.split('\n').filter((l) => l.length > 80)).toEqual([]);
  expect(help.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 +bad input or usage/);
});

test('unknown flags, stray arguments and bad values are refused with exit 2 and one line naming the command', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const refused: [string[], RegExp][] = [
    [['list', '--jsn'], /^natns list: unknown option '--jsn' \(did you mean --json\?\); see 'natns list --help'$/],
    [['gc', 'extra'], /^natns gc: too many arguments for 'gc'\. Expected 0 arguments but got 1; see 'natns gc --help'$/],
    [['check', net.name, 'extra', '--repair'], /^natns check: too many arguments/],
    [['show'], /^natns show: missing required argument 'network'/],
    [['forward', 'add', net.name, '--proto', 'tcp', '--port', '80'], /^natns forward add: required option '--to <ip:port>' not specified/],
    [['ipam', 'migrate', '--to', 'files'], /^natns ipam migrate: option '--to <backend>' argument 'files' is invalid/],
    [['demo', '--keep', '--down'], /^natns demo: option '--keep' cannot be used with option '--down'/],
    [['bogus'], /^natns: unknown command 'bogus'/],
    [['check', '--dry-run'], /^natns: --dry-run goes with --repair/],
    [['check', sb.name('nosuch')], new RegExp(`^natns: no network named '\\S+nosuch' \\(known: ${net.name}; see natns list\\)$`)],
    [['show', sb.name('nosuch')], /^natns: no network named '\S+nosuch' \(known: /],
    [['forward', 'add', net.name, '--proto=sctp', '--port=80', '--to=10.0.0.5:80'], /sctp/],
  ];
  for (const [args, message] of refused) {
    const r = await sb.cli(args);
    expect({ args, code: r.exitCode, stdout: r.stdout, lines: r.stderr.split('\n').length }).toEqual({ args, code: 2, stdout: '', lines: 1 });
    expect(r.stderr).toMatch(message);
  }
  // Nothing was added by the refused calls; --opt=value is read as the value.
  expect(JSON.parse((await sb.cli(['forward', 'list', net.name, '--json'])).stdout)).toEqual([]);
  const added = await sb.cli(['forward', 'add', net.name, '--proto=tcp', '--port=8080', '--to=10.0.0.5:80', '--json']);
  expect(added.exitCode).toBe(0);
  expect(JSON.parse(added.stdout)).toMatchObject({ added: { network: net.name, proto: 'tcp', to: '10.0.0.5:80' } });
  expect(JSON.parse((await sb.cli(['forward', 'list', '--json'])).stdout)).toMatchObject([{ network: net.name, proto: 'tcp', to: '10.0.0.5:80', owner: 'an admin forward' }]);
});

test('check, gc and forward list take --json', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const ok = await sb.cli(['check', net.name, '--json']);
  expect({ code: ok.exitCode, out: JSON.parse(ok.stdout) }).toEqual({ code: 0, out: { findings: [] } });
  const gc = await sb.cli(['gc', '--dry-run', '--json']);
  expect(gc.exitCode).toBe(0);
  expect(JSON.parse(gc.stdout)).toMatchObject({ dryRun: true, errors: [] });
});

test('gc --dry-run says what it would release and releases nothing; gc then releases exactly that', async () => {
  const net: TestNet = defineNet(sb, '1');
  await expectStarted(sb, net);
  const address = (JSON.parse((await sb.cli(['list', '--json'])).stdout) as { upstream: { address: string } }[])[0]!.upstream.address;
  // The sandbox's networks are not libvirt's: once stopped, libvirt "no longer defines" them.
  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  const dry = await sb.cli(['gc', '--dry-run']);
  expect({ code: dry.exitCode, out: dry.stdout }).toEqual({ code: 0, out: `would release ${address} of undefined network ${net.name}` });
  expect((JSON.parse((await sb.cli(['list', '--json'])).stdout) as unknown[]).length).toBe(1);
  const real = await sb.cli(['gc']);
  expect({ code: real.exitCode, out: real.stdout }).toEqual({ code: 0, out: `released ${address} of undefined network ${net.name}` });
  expect(JSON.parse((await sb.cli(['list', '--json'])).stdout)).toEqual([]);
});

test('check --repair --dry-run says what it would remove and changes nothing', async () => {
  const net: TestNet = defineNet(sb, '1');
  await expectStarted(sb, net);
  // libvirt does not run the sandbox's network: repair would remove its router.
  const dry = await sb.cli(['check', net.name, '--repair', '--dry-run', '--json']);
  expect(JSON.parse(dry.stdout).repair).toEqual({ dryRun: true, actions: [`would remove the router of inactive network ${net.name}`], errors: [] });
  expect((JSON.parse((await sb.cli(['list', '--json'])).stdout) as { state: string }[]).map((m) => m.state)).toEqual(['up']);
  const text = await sb.cli(['check', net.name, '--repair', '--dry-run']);
  expect(text.stdout.split('\n')[0]).toBe(`would remove the router of inactive network ${net.name}`);
  const real = await sb.cli(['check', net.name, '--repair']);
  expect(real.stdout).toBe(`removed the router of inactive network ${net.name}`);
  expect((JSON.parse((await sb.cli(['list', '--json'])).stdout) as { state: string }[]).map((m) => m.state)).toEqual(['stopped']);
});

test('natns exec returns the program\'s code, 127 for a program that does not exist and 126 for one that cannot run', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  expect((await sb.cli(['exec', net.name, '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
  const missing = await sb.cli(['exec', net.name, '--', 'natns-no-such-program', '-x']);
  expect({ code: missing.exitCode, err: missing.stderr }).toEqual({ code: 127, err: 'natns: exec: natns-no-such-program: program not found in PATH' });
  const plain = join(mkdtempSync(join(tmpdir(), 'natns-cli-')), 'not-a-program');
  writeFileSync(plain, 'echo hi\n', { mode: 0o644 });
  const notExecutable = await sb.cli(['exec', net.name, '--', plain]);
  rmSync(dirname(plain), { recursive: true, force: true });
  expect({ code: notExecutable.exitCode, err: notExecutable.stderr }).toEqual({ code: 126, err: `natns: exec: ${plain}: not executable` });
  // Options after the network belong to the program, with or without --.
  const ip = await sb.cli(['exec', net.name, 'ip', '-br', 'link', 'show', 'lan']);
  expect({ code: ip.exitCode, out: ip.stdout }).toMatchObject({ code: 0, out: expect.stringMatching(/^lan(@\S+)?\s+UP\s/) });
});

test('release says what goes with the lease, and needs --force when admin forwards would be lost', async () => {
  const net: TestNet = defineNet(sb, '1');
  await expectStarted(sb, net);
  expect((await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '8080', '--to', '10.0.0.5:80'])).exitCode).toBe(0);
  const address = (JSON.parse((await sb.cli(['list', '--json'])).stdout) as { upstream: { address: string } }[])[0]!.upstream.address;
  expect((await netDestroy(sb, net)).exitCode).toBe(0);
  const refused = await sb.cli(['release', net.name]);
  expect({ code: refused.exitCode, out: refused.stdout, err: refused.stderr }).toEqual({
    code: 2, out: '',
    err: `natns: network '${net.name}' has 1 admin forward that would be lost with its lease (tcp ${address}:8080 -> 10.0.0.5:80); release it with --force to drop them, or remove them first with 'natns forward remove'`,
  });
  // Refused means kept: the lease and the forward are both still there.
  expect(JSON.parse((await sb.cli(['forward', 'list', net.name, '--json'])).stdout)).toHaveLength(1);
  const forced = await sb.cli(['release', net.name, '--force']);
  expect({ code: forced.exitCode, out: forced.stdout }).toEqual({
    code: 0, out: `released ${address} on ${provider} from network ${net.name}\ndropped admin forward tcp ${address}:8080 -> 10.0.0.5:80`,
  });
  expect(JSON.parse((await sb.cli(['list', '--json'])).stdout)).toEqual([]);
});

test('list refuses an invalid config file (exit 2, naming the file and the key) instead of listing as if all were well', async () => {
  sb.writeConfig({ pools: { default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199', colour: 'blue' } } });
  const r = await sb.cli(['list']);
  expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 2, out: '', err: `natns: ${sb.env.NATNS_CONFIG}: pools.default.colour is not a setting natns knows here (known: bridge, subnet, gateway, first, last, hostAccess, prefixLength)` });
});

test('metadata in a mistyped natns namespace is refused at start begin in words; other events and plain networks pass', async () => {
  const net: TestNet = defineNet(sb, '1');
  const typo = { ...net, xml: net.xml.replaceAll('urn:natns:network:1', 'urn:natns:network:2') };
  expect(typo.xml).toContain('urn:natns:network:2');
  const r = await sb.hook([net.name, 'start', 'begin', '-'], typo.xml);
  expect({ code: r.exitCode, err: r.stderr.trim() }).toEqual({
    code: 2,
    err: `natns: network '${net.name}': <natns:nat xmlns:natns="urn:natns:network:2"> looks like natns metadata, but natns reads only <natns:nat xmlns:natns="urn:natns:network:1">; fix the namespace (or remove the element) and start the network again`,
  });
  expect((await sb.hook([net.name, 'stopped', 'end', '-'], typo.xml)).exitCode).toBe(0);
  const plain = { ...net, xml: net.xml.replace(/<metadata>[\s\S]*<\/metadata>/, '<metadata><other:x xmlns:other="urn:example:1"/></metadata>') };
  expect(plain.xml).not.toMatch(/natns:nat/);
  expect((await sb.hook([net.name, 'start', 'begin', '-'], plain.xml))).toMatchObject({ exitCode: 0, stderr: '' });
  expect(JSON.parse((await sb.cli(['list', '--json'])).stdout)).toEqual([]);
});
