import { execa } from 'execa';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const PAGE = 4096;

/**
 * A small real tmpfs mounted on `dir`: a state filesystem that can be filled up. tmpfs counts
 * its size in pages, so a filler file can leave exactly N pages free.
 */
export class SmallTmpfs {
  private readonly filler: string;

  private constructor(readonly dir: string) {
    this.filler = join(dir, 'filler');
  }

  static async mount(dir: string, size = '1m', mode = '0711'): Promise<SmallTmpfs> {
    mkdirSync(dir, { recursive: true });
    const r = await execa('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=${mode}`, 'natns-test', dir], { reject: false });
    if (r.exitCode !== 0) throw new Error(`cannot mount a tmpfs on ${dir}: ${r.stderr}`);
    return new SmallTmpfs(dir);
  }

  /** Fill the filesystem up, then free `pages` pages again (0: completely full). */
  fill(pages = 0): void {
    const fd = openSync(this.filler, 'a');
    try {
      const chunk = Buffer.alloc(PAGE, 0x61);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
      const size = fstatSync(fd).size;
      ftruncateSync(fd, Math.max(0, Math.floor(size / PAGE) * PAGE - pages * PAGE));
    } finally {
      closeSync(fd);
    }
  }

  free(): void {
    rmSync(this.filler, { force: true });
  }

  /** Lazily, so a test that failed with a process still inside cannot leave it mounted. */
  async unmount(): Promise<void> {
    await execa('umount', ['-l', this.dir], { reject: false });
  }
}
