/**
 * One process claiming one pool address, for the IPAM race test: `node claim.mjs STATE CONFIG N`.
 * Prints the address, or the error and exit 1.
 */
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { FileIpam } from '../../src/ipam/ipam.js';
import { FileLeaseStore } from '../../src/ipam/leases.js';

const [state, config, n] = process.argv.slice(2) as [string, string, string];
const ipam = new FileIpam(new FileLeaseStore(join(state, 'leases')), join(state, 'locks'), () => loadConfig(config));
ipam.claim({ kind: 'pool', pool: 'default' }, { uuid: `00000000-0000-4000-8000-${n.padStart(12, '0')}`, name: `n${n}` })
  .then((u) => process.stdout.write(`${u.address}\n`))
  .catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  });
