import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonIfExists, writeFileAtomic } from './files.js';

/** A folder of JSON documents, one file per key, each written atomically. */
export class JsonDir<T> {
  constructor(readonly dir: string) {}

  path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  read(key: string): T | undefined {
    return readJsonIfExists<T>(this.path(key));
  }

  write(key: string, value: T, durable = true): void {
    writeFileAtomic(this.path(key), JSON.stringify(value, null, 2) + '\n', { mode: 0o644, durable });
  }

  remove(key: string): void {
    rmSync(this.path(key), { force: true });
  }

  keys(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
    } catch {
      return [];
    }
  }

  list(): T[] {
    return this.keys().map((k) => this.read(k)).filter((v): v is NonNullable<T> => v !== undefined && v !== null);
  }
}
