import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExclusive, writeFileAtomic } from '../../src/sys/files.js';
import { withLock } from '../../src/sys/lock.js';
import { SmallTmpfs } from '../helpers/tmpfs.js';

/** Atomic writes and locks against real files, and a real tmpfs that fills up. */
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'natns-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('on a full state filesystem', () => {
  let fs: SmallTmpfs;
  beforeEach(async () => {
    fs = await SmallTmpfs.mount(join(dir, 'state'), '256k');
  });
  afterEach(async () => {
    await fs.unmount();
  });

  test('an atomic write fails with one message naming the file, keeps the old content and leaves no temp file', () => {
    const file = join(fs.dir, 'record.json');
    writeFileAtomic(file, '{"old":true}\n');
    fs.fill();
    expect(() => writeFileAtomic(file, `{"new":"${'x'.repeat(10_000)}"}\n`)).toThrow(`cannot write ${file}: no space left on the state filesystem`);
    expect(readFileSync(file, 'utf8')).toBe('{"old":true}\n');
    expect(readdirSync(fs.dir).sort()).toEqual(['filler', 'record.json']);
  });

  test('an exclusive create never leaves the file empty: it is there whole or not at all', () => {
    const file = join(fs.dir, 'lease');
    fs.fill();
    expect(() => createExclusive(file, '{"uuid":"u","name":"n"}\n')).toThrow(`cannot write ${file}: no space left on the state filesystem`);
    expect(readdirSync(fs.dir)).toEqual(['filler']);
    fs.free();
    expect(createExclusive(file, '{"uuid":"u","name":"n"}\n')).toBe(true);
    expect(createExclusive(file, '{"uuid":"v","name":"m"}\n')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('{"uuid":"u","name":"n"}\n');
    expect(readdirSync(fs.dir).sort()).toEqual(['lease']);
  });

  test('a lock cannot be taken: fails at once naming the file, and leaves nothing that blocks the next one', async () => {
    const lock = join(fs.dir, 'locks', 'network-x.lock');
    await withLock(lock, async () => undefined);
    fs.fill();
    const started = Date.now();
    await expect(withLock(lock, async () => undefined)).rejects.toThrow(`cannot write ${lock}: no space left on the state filesystem`);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(existsSync(lock)).toBe(false);
    fs.free();
    const again = Date.now();
    expect(await withLock(lock, async () => 'got it', 10_000)).toBe('got it');
    expect(Date.now() - again).toBeLessThan(1000);
  });
});

describe('a lock never outlives its holder', () => {
  const takes = async (lock: string, withinMs: number) => {
    const started = Date.now();
    expect(await withLock(lock, async () => readFileSync(lock, 'utf8'), 8000)).toMatch(new RegExp(`^${process.pid} [0-9a-f-]{36} \\d+\\n$`));
    expect(Date.now() - started).toBeLessThan(withinMs);
    expect(existsSync(lock)).toBe(false);
  };

  test('an empty or garbled lock file (an older natns on a full disk) is taken over at once when it is old', async () => {
    for (const content of ['', 'garbage\n', '\0\0\0']) {
      const lock = join(dir, 'a.lock');
      writeFileSync(lock, content);
      utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      await takes(lock, 500);
    }
  });

  test('a fresh empty lock file is given the grace an older natns needed to write its pid, then taken over', async () => {
    const lock = join(dir, 'b.lock');
    writeFileSync(lock, '');
    const started = Date.now();
    await takes(lock, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  test('a lock taken before the last boot is taken over, though its pid is alive now', async () => {
    const lock = join(dir, 'c.lock');
    writeFileSync(lock, '1 00000000-0000-4000-8000-000000000000\n');
    await takes(lock, 500);
  });

  test('a dead holder is taken over; a live one is waited for, and the timeout names it', async () => {
    const lock = join(dir, 'd.lock');
    const child = execa('sleep', ['30']);
    try {
      writeFileSync(lock, `${child.pid} ${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}\n`);
      await expect(withLock(lock, async () => undefined, 300)).rejects.toThrow(`timed out after 300 ms waiting for ${lock}, held by pid ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await child.catch(() => undefined);
    }
    await takes(lock, 500);
  });

  test('releasing removes only our own lock file, not one someone took over meanwhile', async () => {
    const lock = join(dir, 'e.lock');
    await withLock(lock, async () => {
      rmSync(lock);
      writeFileSync(lock, '1 someone-else\n');
    });
    expect(readFileSync(lock, 'utf8')).toBe('1 someone-else\n');
  });

  test('two holders in one process (the agent serving hooks side by side) take turns', async () => {
    const lock = join(dir, 'f.lock');
    const order: string[] = [];
    const hold = (who: string) => withLock(lock, async () => {
      order.push(`${who} in`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${who} out`);
    }, 5000);
    await Promise.all([hold('a'), hold('b'), hold('c')]);
    expect(order.filter((_, i) => i % 2 === 0).map((e) => e.split(' ')[0])).toEqual(order.filter((_, i) => i % 2 === 1).map((e) => e.split(' ')[0]));
    expect(order.filter((e) => e.endsWith('in'))).toHaveLength(3);
    expect(existsSync(lock)).toBe(false);
  });
});
