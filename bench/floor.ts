/**
 * The floor a natns start is measured against: exactly the lines natns would run for one router
 * (host ip batch, then namespace ip batch with sysctl and nft -f), run from a plain bash script.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NOTHING } from '../src/plan/observed.js';
import { diffRouter } from '../src/plan/diff.js';
import { nftReplaceScript, planRouter, type DesiredRouter } from '../src/plan/router.js';

export function sh(file: string, args: string[], input = ''): void {
  const r = spawnSync(file, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`);
}

export function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export interface Floor {
  desired: DesiredRouter;
  up(): void;
  down(): void;
}

/** Scripts in `dir` that build and remove the router natns would build for `name` on these bridges. */
export function shellFloor(dir: string, o: { name: string; uuid: string; bridge: string; provider: string; address: string; prefix: number; gateway: string }): Floor {
  const desired = planRouter({
    network: { name: o.name, uuid: o.uuid, bridge: o.bridge, private: { address: '10.0.0.1', prefix: 24 } },
    lease: { bridge: o.provider, address: o.address, prefix: o.prefix, gateway: o.gateway },
    mtu: { lan: 1500, wan: 1500 },
  });
  const c = diffRouter(desired, NOTHING);
  const file = (f: string) => join(dir, `${o.name}.${f}`);
  writeFileSync(file('nft'), nftReplaceScript(desired));
  writeFileSync(file('host'), c.host.join('\n') + '\n');
  writeFileSync(file('ns'), [...c.ns, `netns exec ${desired.namespace} sysctl -qw net.ipv4.ip_forward=1`, `netns exec ${desired.namespace} nft -f ${file('nft')}`].join('\n') + '\n');
  writeFileSync(file('down'), `link del ${desired.lan.host}\nlink del ${desired.wan.host}\nnetns del ${desired.namespace}\n`);
  writeFileSync(file('up.sh'), `#!/bin/bash\nset -e\nip -batch ${file('host')}\nip -n ${desired.namespace} -batch ${file('ns')}\n`);
  writeFileSync(file('down.sh'), `#!/bin/bash\nip -batch ${file('down')}\n`);
  return { desired, up: () => sh('bash', [file('up.sh')]), down: () => sh('bash', [file('down.sh')]) };
}
