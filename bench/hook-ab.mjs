// A/B of the built network hook's `start begin` (one network, lease found after the first round):
// two builds ('main' = A, 'branch' = B), interleaved, each with a state folder and config of its own; medians of the whole
// process's wall time and of the work the hook logs. Root; makes and removes bridge tstbnch-pb.
// Measured with it: what valibot's config check adds to a start begin (README, "Configuring").
//   node bench/hook-ab.mjs A/dist B/dist [ROUNDS=30]   (e.g. main's build against this one)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
const [distA, distB, n] = process.argv.slice(2);
if (!distA || !distB) throw new Error('usage: node bench/hook-ab.mjs A/dist B/dist [ROUNDS]');
const rounds = Number(n ?? 30);
const builds = { main: `${distA}/hook-network.cjs`, branch: `${distB}/hook-network.cjs` };
const bridge = 'tstbnch-pb';
spawnSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
const env = {};
for (const b of Object.keys(builds)) {
  const dir = `/tmp/natns-hook-ab/${b}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(`${dir}/config.json`, JSON.stringify({ pools: { default: { bridge, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' } } }));
  env[b] = { PATH: process.env.PATH, NATNS_CONFIG: `${dir}/config.json`, NATNS_STATE_DIR: `${dir}/state`, NATNS_LOG_DIR: `${dir}/log` };
}
const xml = (name, uuid) => `<hookData><network><name>${name}</name><uuid>${uuid}</uuid><bridge name='tstbnch-b1'/><metadata><natns:nat xmlns:natns="urn:natns:network:1"><natns:private address="10.0.0.1" prefix="24"/><natns:upstream pool="default"/></natns:nat></metadata></network></hookData>`;
const net = { name: 'tstbnch-n1', uuid: randomUUID() };
const wall = { main: [], branch: [] };
const work = { main: [], branch: [] };
for (let i = 0; i < rounds + 2; i++) {
  for (const b of (i % 2 ? ['main', 'branch'] : ['branch', 'main'])) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [builds[b], net.name, 'start', 'begin', '-'], { input: xml(net.name, net.uuid), env: env[b] });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${b}: ${r.stderr}`);
    const lines = readFileSync(`${env[b].NATNS_LOG_DIR}/natns.log`, 'utf8').trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    if (i >= 2) { wall[b].push(ms); work[b].push(last.ms); }
  }
}
spawnSync('ip', ['link', 'del', bridge]);
rmSync('/tmp/natns-hook-ab', { recursive: true, force: true });
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const t = process.hrtime.bigint(); spawnSync(process.execPath, ['-e', '0']); const bare = Number(process.hrtime.bigint() - t) / 1e6;
console.log(JSON.stringify({ rounds, wall: { main: med(wall.main), branch: med(wall.branch) }, work: { main: med(work.main), branch: med(work.branch) }, nodeE0: bare, loadavg: readFileSync('/proc/loadavg', 'utf8').trim() }));
