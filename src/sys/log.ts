import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import winston from 'winston';
import Transport from 'winston-transport';
import { paths } from './paths.js';

/**
 * JSON lines to /var/log/natns/natns.log. Written synchronously: a hook exits right after its
 * work, and an async file transport would lose the last lines. Errors for the admin go to stderr
 * separately, once, from the entry point.
 */
class SyncFileTransport extends Transport {
  constructor(private readonly file: string) {
    super();
  }
  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    try {
      appendFileSync(this.file, `${String(info[Symbol.for('message')])}\n`);
    } catch {
      // Logging must never fail a network start.
    }
    next();
  }
}

let logger: winston.Logger | undefined;

export function log(): winston.Logger {
  if (logger) return logger;
  const dir = paths.log();
  let transports: winston.transport[];
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    transports = [new SyncFileTransport(join(dir, 'natns.log'))];
  } catch {
    transports = [new winston.transports.Console({ silent: true })];
  }
  logger = winston.createLogger({
    level: process.env.NATNS_LOG_LEVEL ?? 'info',
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    defaultMeta: { pid: process.pid },
    transports,
  });
  return logger;
}
