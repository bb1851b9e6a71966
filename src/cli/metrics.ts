import { statSync } from 'node:fs';
import { join } from 'node:path';
import { makeContext } from '../core/context.js';
import { collectMetrics } from '../core/metrics.js';
import { InputError } from '../domain/errors.js';
import { writeFileAtomic } from '../sys/files.js';
import { renderFamilies } from '../sys/prom-text.js';

export async function run(options: { textfile?: string; json?: boolean }): Promise<number> {
  const families = await collectMetrics(makeContext());
  if (options.json) {
    process.stdout.write(JSON.stringify(families, null, 2) + '\n');
    return 0;
  }
  const text = renderFamilies(families);
  if (options.textfile === undefined) {
    process.stdout.write(text);
    return 0;
  }
  let dir = false;
  try {
    dir = statSync(options.textfile).isDirectory();
  } catch {
    // Reported below.
  }
  if (!dir) throw new InputError(`--textfile ${options.textfile} is not a folder (node_exporter's --collector.textfile.directory)`);
  // Written beside it under a name node_exporter skips (not *.prom), then renamed: it never reads half a file.
  writeFileAtomic(join(options.textfile, 'natns.prom'), text, { mode: 0o644, durable: false });
  return 0;
}
