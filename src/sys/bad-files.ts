/**
 * State files natns could not use (empty, truncated, unreadable): each reader skips such a file
 * and notes it here, so that one bad file is reported by path instead of stopping every command
 * and hook that happens to list its folder.
 */
export interface BadFile {
  path: string;
  reason: string;
  /** What the file holds, so repair knows what to rebuild: a network record, a lease, ... */
  kind: string;
  /** The file's key in its store (a network's UUID, a lease's bridge/address). */
  key: string;
}

export class BadFiles {
  private readonly found = new Map<string, BadFile>();

  add(bad: BadFile): void {
    this.found.set(bad.path, bad);
  }

  list(): BadFile[] {
    return [...this.found.values()];
  }

  /** The files found so far, forgotten here: whoever takes them reports them. */
  take(): BadFile[] {
    const all = this.list();
    this.found.clear();
    return all;
  }
}

/** The bad files of this process: what the CLI reports after a command, and hooks log. */
export const badFiles = new BadFiles();

/** The admin's line about one bad file. */
export function badFileText(b: { path: string; reason: string }): string {
  return `${b.path}: ${b.reason}; 'natns check --repair' moves it aside`;
}
