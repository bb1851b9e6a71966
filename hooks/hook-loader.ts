import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Loads the hooks' working code (hook-core.cjs, beside the entry) through V8's code cache.
 * Compiling that bundle cost a hook more time than its kernel work; with the cache V8 skips
 * parsing and compiling. V8 itself checks a cache against the source, its version and its flags
 * and rejects a stale one (say, after a Node upgrade): then the code compiles as usual and a fresh
 * cache is written once the hook's work is done, the way Python keeps __pycache__.
 */
export interface HookCore {
  runNetworkHook(argv: string[], stdin: string): Promise<number>;
  runQemuHook(argv: string[], stdin: string): Promise<number>;
  warmHookCode(): Promise<void>;
}

export interface LoadedCore {
  core: HookCore;
  /** Writes the cache if it was missing or stale; call after the work, so it holds the work's code too. */
  saveCacheIfStale(): void;
}

/** `dir`: where the hook entry lives (its real path: libvirt calls it through a symlink). */
export function loadHookCore(dir: string): LoadedCore {
  const file = join(dir, 'hook-core.cjs');
  const cacheFile = `${file}.v8cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as HookCore };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  const stale = cachedData === undefined || script.cachedDataRejected === true;
  return {
    core: module.exports,
    saveCacheIfStale() {
      if (!stale) return;
      try {
        const tmp = `${cacheFile}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
        renameSync(tmp, cacheFile);
      } catch {
        // A read-only install only loses speed, never a hook run.
      }
    },
  };
}

/**
 * One hook call's work, run from the cached core; the exit code goes to the process. Build and
 * install also run it once with the core's warm-up (`hook-network.cjs --warm-code-cache`), so the
 * cache holds the hooks' pure paths compiled before the first real call.
 */
export async function runHook(dir: string, work: (core: HookCore) => Promise<number>): Promise<void> {
  const { core, saveCacheIfStale } = loadHookCore(dir);
  process.exitCode = await work(core);
  saveCacheIfStale();
}
