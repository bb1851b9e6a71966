import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NatnsError } from '../domain/errors.js';
import { badFiles as processBadFiles, badFileText, type BadFiles } from './bad-files.js';
import { readJsonFile, writeFileAtomic } from './files.js';

export interface JsonDirOptions {
  /** Where unreadable files are noted; the process's own list by default. */
  bad?: BadFiles;
  /** What the files hold, for reports and repair ("network", "guest", ...). */
  kind?: string;
  /** Rejects a document of the wrong shape, so it counts as bad instead of crashing a reader. */
  valid?: (v: unknown) => boolean;
}

/** A folder of JSON documents, one file per key, each written atomically (0600). */
export class JsonDir<T> {
  private readonly bad: BadFiles;
  private readonly kind: string;
  private readonly valid: (v: unknown) => boolean;

  constructor(readonly dir: string, o: JsonDirOptions = {}) {
    this.bad = o.bad ?? processBadFiles;
    this.kind = o.kind ?? 'state';
    this.valid = o.valid ?? (() => true);
  }

  path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  /** One document that the caller needs: a bad file is an error that names it. */
  read(key: string): T | undefined {
    const r = readJsonFile<T>(this.path(key), this.valid);
    if ('problem' in r) throw new NatnsError(`cannot use ${badFileText({ path: this.path(key), reason: r.problem })}`);
    return 'value' in r ? r.value : undefined;
  }

  /** One document where doing without is better than failing: a bad file is noted and reads as absent. */
  readOrSkip(key: string): T | undefined {
    const r = readJsonFile<T>(this.path(key), this.valid);
    if ('problem' in r) {
      this.bad.add({ path: this.path(key), reason: r.problem, kind: this.kind, key });
      return undefined;
    }
    return 'value' in r ? r.value : undefined;
  }

  write(key: string, value: T, durable = true): void {
    writeFileAtomic(this.path(key), JSON.stringify(value, null, 2) + '\n', { durable });
  }

  remove(key: string): void {
    rmSync(this.path(key), { force: true });
  }

  keys(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new NatnsError(`cannot list ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    // Dot files are temp files of writes in progress; PATH.corrupt-* are bad files moved aside.
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
  }

  /** Every readable document; the others are noted as bad and skipped. */
  list(): T[] {
    return this.keys().map((k) => this.readOrSkip(k)).filter((v): v is NonNullable<T> => v !== undefined && v !== null);
  }

  /** Keys whose files cannot be used. */
  unreadable(): string[] {
    return this.keys().filter((k) => 'problem' in readJsonFile(this.path(k), this.valid));
  }
}
