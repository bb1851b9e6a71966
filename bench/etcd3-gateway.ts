/**
 * The other client natns could have used: the `etcd3` package (etcd's gRPC API), behind the same
 * API as src/ipam/etcd-gateway.ts. bench/etcd.ts builds a variant of the hooks with this file in
 * its place, and etcd3 as a bundle of its own beside them that is loaded, only when etcd is
 * used, through V8's code cache like hook-core.cjs: the best a hook could do with etcd3.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import type { EtcdConfig } from '../src/config/config.js';
import { NatnsError } from '../src/domain/errors.js';
import type { EtcdSession, KeyValue } from '../src/ipam/etcd-gateway.js';

export type { EtcdSession, KeyValue } from '../src/ipam/etcd-gateway.js';

export class EtcdError extends NatnsError {}

interface Kv { key: Buffer; value: Buffer; mod_revision: string }
type Etcd3Client = {
  getAll(): { prefix(p: string): { exec(): Promise<{ kvs: Kv[] }> } };
  get(key: string): { exec(): Promise<{ kvs: Kv[] }> };
  put(key: string): { value(v: string): { exec(): Promise<unknown> } };
  delete(): { key(k: string): unknown };
  if(key: string, target: string, cmp: string, v: string | number): {
    then(...ops: unknown[]): { else(...ops: unknown[]): { commit(): Promise<{ succeeded: boolean; responses: { response_range?: { kvs: Kv[] } }[] }> }; commit(): Promise<{ succeeded: boolean }> };
  };
};

/** The etcd3 bundle beside the hook entry, run through a code cache written on first use. */
function loadEtcd3(): { Etcd3: new (options: object) => Etcd3Client } {
  const dir = dirname(process.argv[1]!);
  const file = join(dir, 'etcd3-bundle.cjs');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${file}.v8cache`);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as { Etcd3: new (options: object) => Etcd3Client } };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => writeFileSync(`${file}.v8cache`, script.createCachedData()));
  }
  return module.exports;
}

const kv = (k: Kv): KeyValue => ({ key: k.key.toString('utf8'), value: k.value.toString('utf8'), modRevision: k.mod_revision });

export class EtcdGateway {
  private client: Etcd3Client | undefined;
  constructor(private readonly config: EtcdConfig) {}

  private etcd(): Etcd3Client {
    if (this.client) return this.client;
    const tls = this.config.tls;
    const { Etcd3 } = loadEtcd3();
    this.client = new Etcd3({
      hosts: this.config.endpoints,
      ...(tls?.ca ? { credentials: { rootCertificate: readFileSync(tls.ca), ...(tls.cert ? { certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key!) } : {}) } } : {}),
    });
    return this.client;
  }

  /** The same requests as the JSON gateway's session; etcd3 keeps its own timeouts (the bench's etcd is up). */
  session(): EtcdSession {
    const range = async (key: string, prefix = false): Promise<KeyValue[]> => {
      const r = prefix ? await this.etcd().getAll().prefix(key).exec() : await this.etcd().get(key).exec();
      return r.kvs.map(kv);
    };
    return {
      range,
      get: async (key) => (await range(key))[0],
      put: async (key, value) => {
        await this.etcd().put(key).value(value).exec();
      },
      createIfAbsent: async (key, value, view = key) => {
        const c = this.etcd();
        const r = await c.if(key, 'Create', '==', 0).then(c.put(key).value(value)).else(view === key ? c.get(key) : c.getAll().prefix(view)).commit();
        return r.succeeded ? { created: true, current: [] } : { created: false, current: (r.responses[0]?.response_range?.kvs ?? []).map(kv) };
      },
      deleteIfUnchanged: async (key, modRevision) => {
        const c = this.etcd();
        return (await c.if(key, 'Mod', '==', modRevision).then(c.delete().key(key)).commit()).succeeded;
      },
    };
  }
}
