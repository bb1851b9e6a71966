import { realpathSync } from 'node:fs';
import { FORWARD_PORT, GUEST_IP, Lab } from '../lab/lab.js';
import { stateColour, table } from './output.js';
import { mapping } from './list.js';
import { makeContext } from '../core/context.js';
import { quickStates } from '../core/status.js';

export function demoLab(progress?: (line: string) => void): Lab {
  return new Lab({
    prefix: 'natnsdemo',
    networks: 2,
    macvlan: [2],
    natnsCommand: [process.execPath, realpathSync(process.argv[1]!)],
    ...(progress ? { progress } : {}),
  });
}

export async function run(options: { keep?: boolean; down?: boolean }): Promise<number> {
  const started = Date.now();
  const say = (line: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
  const lab = demoLab(say);
  if (options.down) {
    say('removing the demo');
    await lab.down();
    say('removed');
    return 0;
  }
  try {
    await lab.up();
    const probes = await lab.waitForGuests();
    const ctx = makeContext();
    const records = ctx.records.list().filter((r) => r.name.startsWith('natnsdemo-'));
    const states = await quickStates(records, ctx, Promise.resolve(() => 'active'));
    const rows = records.map((r) => mapping(r, ctx, states.get(r.uuid)!.state));
    process.stdout.write('\nMappings (natns list):\n');
    process.stdout.write(table(
      ['NETWORK', 'BRIDGE', 'PRIVATE', 'UPSTREAM', 'STATE'],
      // The demo's networks are IPv4 ones.
      rows.map((m) => [m.network, m.bridge, m.private!, `${m.upstream!.address}/${m.upstream!.prefix}`, m.state]),
      { shrink: [0], paint: (i, v) => (i === 4 ? stateColour(v) : undefined) },
    ));
    process.stdout.write('\nProof (each guest reports on its serial console; the upstream host answers with the source it saw):\n');
    process.stdout.write(table(
      ['GUEST', 'ADDRESS', 'NETWORK', 'PING 198.51.100.1', 'UPSTREAM SAW'],
      probes.map((p) => [p.guest, p.up ?? '?', p.network, p.ping ? 'ok' : 'failed', p.tcp?.replace(/^hello /, '') ?? 'nothing']),
      { shrink: [2, 0] },
    ));
    process.stdout.write('\nInbound (the upstream host fetches each network\'s published port, declared in the guest\'s metadata):\n');
    const inbound = [];
    for (const m of rows) inbound.push([`http://${m.upstream!.address}:${FORWARD_PORT}/`, await lab.fetchThroughForward(m.upstream!.address)]);
    process.stdout.write(table(['URL', 'ANSWER'], inbound));
    const seen = lab.upstreamSources();
    const distinct = new Set(probes.map((p) => p.tcp)).size === probes.length;
    process.stdout.write(`\nUpstream host saw ${seen.length} source address(es): ${seen.join(', ')}. ` +
      `${distinct ? `Two guests with the same address ${GUEST_IP} left through two different upstream addresses.` : 'The guests were NOT told apart.'}\n\n`);
    if (options.keep) {
      say("kept running: 'natns list', 'virsh list', 'natns show natnsdemo-net1'; remove it with 'natns demo --down'");
      return distinct ? 0 : 1;
    }
    say('removing the demo (use --keep to leave it running)');
    await lab.down();
    say('done');
    return distinct ? 0 : 1;
  } catch (err) {
    if (!options.keep) {
      say('the demo failed; removing what it made');
      await lab.down().catch((e: unknown) => process.stderr.write(`natns: cleanup: ${(e as Error).message}\n`));
    }
    throw err;
  }
}
