import { concerns, formatEntry, logFile, parseLog, readFrom, type LogEntry } from '../core/logs.js';

/** `natns logs [NETWORK] [-f]`: natns's own log, for one network or all. */
export async function run(network: string | undefined, options: { follow?: boolean; json?: boolean; lines?: string }): Promise<number> {
  const file = logFile();
  const limit = options.lines === undefined ? undefined : Number(options.lines);
  const print = (entries: LogEntry[], first: boolean) => {
    const shown = entries.filter((e) => concerns(e, network));
    const tail = first && limit !== undefined ? shown.slice(Math.max(0, shown.length - limit)) : shown;
    if (options.json && !options.follow) process.stdout.write(JSON.stringify(tail, null, 2) + '\n');
    else for (const e of tail) process.stdout.write(`${options.json ? JSON.stringify(e) : formatEntry(e)}\n`);
  };
  let at = readFrom(file, 0);
  print(parseLog(at.text), true);
  if (!options.follow) return 0;
  // Follow: poll (the log is appended line by line by short-lived hooks); a rotated or
  // truncated log is read again from its start. Ends on SIGINT or SIGTERM.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      at = readFrom(file, at.offset, at.inode);
      if (at.text) print(parseLog(at.text), false);
    }, 250);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
