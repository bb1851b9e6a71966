import { InputError } from '../domain/errors.js';
import { serveUpstream } from '../lab/upstream-host.js';

export const help = `Usage: natns _upstream-host PORT LOGFILE

Internal: the demo's upstream host, run inside its namespace. Records each TCP source address.
`;

export async function run(args: string[]): Promise<number> {
  const [port, logFile] = args;
  if (!port || !/^\d+$/.test(port) || !logFile) throw new InputError('usage: natns _upstream-host PORT LOGFILE');
  await serveUpstream(Number(port), logFile);
  await new Promise(() => undefined);
  return 0;
}

