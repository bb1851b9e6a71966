import { realpathSync } from 'node:fs';
import { FORWARD_PORT, GUEST_IP, LAB_SUBNET, LAB_SUBNET6, Lab, type GuestProbe } from '../lab/lab.js';
import { stateColour, table } from './output.js';
import { mapping, upstream6Text } from './list.js';
import { makeContext } from '../core/context.js';
import { quickStates } from '../core/status.js';

export function demoLab(progress?: (line: string) => void): Lab {
  return new Lab({
    prefix: 'natnsdemo',
    networks: 2,
    macvlan: [2],
    ipv6: true,
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
    process.stdout.write(`\nMappings (natns list; both networks' private side is ${rows[0]?.private ?? '?'} and ${rows[0]?.private6 ?? '?'}):\n`);
    process.stdout.write(table(
      // In 80 columns: the private sides are the same on both networks (said in the heading).
      ['NETWORK', 'BRIDGE', 'UPSTREAM', 'UPSTREAM6', 'STATE'],
      rows.map((m) => [m.network, m.bridge, `${m.upstream!.address}/${m.upstream!.prefix}`, upstream6Text(m.upstream6!), m.state]),
      { shrink: [0, 1], paint: (i, v) => (i === 4 ? stateColour(v) : undefined) },
    ));
    process.stdout.write(`\nProof (each guest reports on its serial console; the upstream host ${LAB_SUBNET.gateway} / ${LAB_SUBNET6.gateway} answers with the source it saw):\n`);
    // In 80 columns: guests by their number (natnsdemo-guest1 is guest1).
    process.stdout.write(table(['GUEST', 'FAMILY', 'PRIVATE', 'PING', 'UPSTREAM SAW'], proofRows(probes).map(([g, ...r]) => [g!.replace(/^natnsdemo-/, ''), ...r]), { shrink: [2] }));
    process.stdout.write('\nInbound (the upstream host fetches each network\'s published port, declared in the guest\'s metadata):\n');
    const inbound = [];
    for (const m of rows) inbound.push([`http://${m.upstream!.address}:${FORWARD_PORT}/`, await lab.fetchThroughForward(m.upstream!.address)]);
    process.stdout.write(table(['URL', 'ANSWER'], inbound));
    const seen = lab.upstreamSources();
    const distinct = new Set(probes.map((p) => p.tcp)).size === probes.length && new Set(probes.map((p) => p.tcp6)).size === probes.length;
    process.stdout.write(`\nUpstream host saw ${seen.length} source address(es): ${seen.join(', ')}. ` +
      `${distinct ? `Two guests with the same address ${GUEST_IP} and the same prefix fd00::/64 left through two different upstream addresses in each family.` : 'The guests were NOT told apart.'}\n\n`);
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

/** Two rows per guest, one per family: its private address, whether it pinged the upstream host, and the source that host saw. */
export function proofRows(probes: GuestProbe[]): string[][] {
  const saw = (tcp: string | undefined) => tcp?.replace(/^hello /, '') ?? 'nothing';
  return probes.flatMap((p) => [
    [p.guest, 'IPv4', p.up ?? '?', p.ping ? 'ok' : 'failed', saw(p.tcp)],
    [p.guest, 'IPv6', p.up6 ? `${p.up6} (SLAAC)` : 'none', p.ping6 ? 'ok' : 'failed', saw(p.tcp6)],
  ]);
}
