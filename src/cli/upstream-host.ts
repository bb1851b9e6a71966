import { InputError } from '../domain/errors.js';
import { serveUpstream } from '../lab/upstream-host.js';

export async function run(port: string, logFile: string): Promise<number> {
  if (!/^\d+$/.test(port)) throw new InputError('usage: natns _upstream-host PORT LOGFILE');
  await serveUpstream(Number(port), logFile);
  await new Promise(() => undefined);
  return 0;
}

