import { execa } from 'execa';
import { XMLValidator } from 'fast-xml-parser';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TARGETS, type VerdictRow } from '../../bench/verdicts.js';
import { repoRoot, sh } from '../helpers/sandbox.js';

/**
 * The quick bench (BENCH_QUICK=1), really run as root: real namespaces, iperf3, the real libvirtd.
 * It must finish in under two minutes, leave nothing of its own behind, and write a report whose
 * files are whole: SVGs that parse, PNGs with a PNG header, a verdict table with every target row.
 */
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// What the bench names its objects: b + part letter + pid in hex, then a suffix (natns prefixes its namespaces).
const BENCH_OBJECT = /^(natns-)?b[nvods6][0-9a-f]{3,}/;

async function benchObjects(): Promise<Set<string>> {
  const links = (await sh('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  const namespaces = (await sh('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
  const networks = (await sh('virsh', ['-c', 'qemu:///system', 'net-list', '--all', '--name'])).stdout.split('\n').map((l) => l.trim());
  return new Set([...links, ...namespaces, ...networks].filter((n) => BENCH_OBJECT.test(n)));
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'natns-bench-report-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('BENCH_QUICK=1 writes the report, its charts and a verdict row per target, in under two minutes', async () => {
  if (!existsSync(join(repoRoot, 'dist', 'hook-network.cjs'))) await execa(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot });
  const before = await benchObjects();
  const t0 = Date.now();
  // The quick defaults only, whatever knobs the shell running the tests has set.
  const agentWasRunning = (await execa('natns', ['agent', 'status'], { reject: false })).exitCode === 0;
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BENCH_'))), BENCH_QUICK: '1', BENCH_RESULTS_DIR: dir };
  const r = await execa(process.execPath, ['scripts/bench.mjs'], { cwd: repoRoot, reject: false, env, extendEnv: false, timeout: 170_000 });
  const seconds = (Date.now() - t0) / 1000;
  expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(seconds).toBeLessThan(120);
  // Not on a terminal: no status line, only the table and the list of files.
  expect(r.stdout).not.toContain('\r');

  const files = readdirSync(dir);
  const one = (re: RegExp) => {
    const found = files.filter((f) => re.test(f));
    expect(found).toHaveLength(1);
    return join(dir, found[0]!);
  };
  for (const chart of ['throughput', 'start-vs-n']) {
    const svg = readFileSync(one(new RegExp(`^${chart}-.*\\.svg$`)), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toMatch(/^<svg [^>]*width="\d+"/);
    const png = readFileSync(one(new RegExp(`^${chart}-.*\\.png$`)));
    expect(png.subarray(0, 8)).toEqual(PNG);
    // IHDR: width and height of the rendered chart, twice the SVG's.
    expect(png.readUInt32BE(16)).toBe(2 * Number(/width="(\d+)"/.exec(svg)![1]));
  }

  const json = JSON.parse(readFileSync(one(/^bench-.*\.json$/), 'utf8')) as { quick: boolean; verdicts: VerdictRow[] } & Record<string, unknown>;
  expect(json.quick).toBe(true);
  for (const part of ['hookLatency', 'virshStart', 'oneToOne', 'dataplane', 'dualStack', 'scale']) expect(json[part]).not.toHaveProperty('error');
  expect(json.verdicts.map((v) => v.id)).toEqual(TARGETS.map((t) => t.id));
  const hooksInstalled = existsSync('/etc/libvirt/hooks/network.d/natns');
  for (const v of json.verdicts) {
    if (v.id === 'failover') expect(v).toMatchObject({ status: 'not measured', note: 'not measured yet' });
    else if (v.id.startsWith('virsh') && !hooksInstalled) expect(v).toMatchObject({ status: 'not measured', note: 'natns hooks not installed' });
    // The bench measures an agent it starts itself; with none installed, or the admin's running, it has no figures.
    else if (v.id.startsWith('agent') && (!hooksInstalled || agentWasRunning)) expect(v).toMatchObject({ status: 'not measured' });
    else {
      expect(['met', 'missed', 'reported']).toContain(v.status);
      expect(v.value).toEqual(expect.any(Number));
    }
  }

  // The HTML report: every row's label in its table, every inline chart an SVG that parses.
  const html = readFileSync(one(/^report-.*\.html$/), 'utf8');
  const rows = html.slice(html.indexOf('<h2>Verdicts</h2>'), html.indexOf('<h2>Charts</h2>')).match(/<tr class="[^"]+">.*<\/tr>/g) ?? [];
  expect(rows).toHaveLength(TARGETS.length);
  json.verdicts.forEach((v, i) => {
    expect(rows[i]!.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&')).toContain(v.what.replace(/`/g, ''));
    expect(rows[i]).toContain(`<td class="verdict">${v.status}</td>`);
  });
  const inline = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  expect(inline).toHaveLength(2);
  for (const svg of inline) expect(XMLValidator.validate(svg)).toBe(true);
  for (const v of json.verdicts) expect(r.stdout).toContain(v.what);

  // Everything the bench made is gone again.
  const left = [...(await benchObjects())].filter((n) => !before.has(n));
  expect(left).toEqual([]);
}, 200_000);
