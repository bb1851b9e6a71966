import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import type { EtcdConfig } from '../config/config.js';
import { InputError, NatnsError } from '../domain/errors.js';

/** One key of etcd's keyspace as natns reads it: text key and value, and the revision that last changed it. */
export interface KeyValue {
  key: string;
  value: string;
  modRevision: string;
}

/** The key-value requests natns makes of etcd, all within one deadline. */
export interface EtcdSession {
  /** Keys from `key` (with `prefix`: every key starting with it). */
  range(key: string, prefix?: boolean): Promise<KeyValue[]>;
  get(key: string): Promise<KeyValue | undefined>;
  put(key: string, value: string): Promise<void>;
  /**
   * Put `value` at `key` in one transaction that succeeds only while the key does not exist.
   * When it exists, the same round trip returns every key under `view` (a prefix), so a caller
   * that lost a race sees the state that beat it.
   */
  createIfAbsent(key: string, value: string, view?: string): Promise<{ created: boolean; current: KeyValue[] }>;
  /** Delete `key` if nothing changed it since `modRevision`; false when something did. */
  deleteIfUnchanged(key: string, modRevision: string): Promise<boolean>;
}

/** etcd leases and keys bound to them: what the agent's election needs. */
export interface EtcdElection {
  /** A new etcd lease of `ttl` seconds; returns its ID and the TTL etcd granted (it may raise it). */
  grantLease(ttl: number): Promise<{ id: string; ttl: number }>;
  /** Renew a lease; returns the TTL it has again, 0 when it has already expired. */
  keepAlive(id: string): Promise<number>;
  /** End a lease now: the keys bound to it go with it. */
  revokeLease(id: string): Promise<void>;
  /** Create `key` bound to lease `id` if it does not exist; either way returns who holds it now. */
  createWithLease(key: string, value: string, id: string): Promise<{ created: boolean; current: KeyValue | undefined }>;
}

/**
 * etcd's own v3 API through its JSON gateway (POST /v3/kv/...), over Node's http/https modules.
 * Chosen over the etcd3 package by measurement (README, "etcd"): a hook loads this on every
 * start, and etcd3's gRPC stack cost a start more than the rest of the hook together.
 *
 * An operation (a claim, a release) has one deadline, the config's timeout, shared by its
 * requests and the endpoints: an endpoint that refuses or stalls hands the rest of the time to
 * the next one. When none answers, the error names each endpoint and why.
 */
export class EtcdGateway {
  private agent: HttpAgent | undefined;
  private request: ((options: RequestOptions, callback: (res: IncomingMessage) => void) => ClientRequest) | undefined;
  /** The endpoint that answered last: tried first next time. */
  private current = 0;

  constructor(private readonly config: EtcdConfig) {}

  /** Requests for one operation, which all together get the config's timeout (or a shorter one). */
  session(timeoutMs = this.config.timeoutMs): EtcdSession {
    const deadline = Date.now() + timeoutMs;
    const call = (path: string, body: object) => this.call(path, body, deadline);
    const range = async (key: string, prefix = false): Promise<KeyValue[]> => {
      const body = { key: b64(key), ...(prefix ? { range_end: b64(rangeEnd(key)) } : {}) };
      return kvs(await call('/v3/kv/range', body));
    };
    return {
      range,
      get: async (key) => (await range(key))[0],
      put: async (key, value) => {
        await call('/v3/kv/put', { key: b64(key), value: b64(value) });
      },
      createIfAbsent: async (key, value, view = key) => {
        const r = await call('/v3/kv/txn', {
          compare: [{ key: b64(key), result: 'EQUAL', target: 'CREATE', create_revision: '0' }],
          success: [{ request_put: { key: b64(key), value: b64(value) } }],
          failure: [{ request_range: { key: b64(view), ...(view === key ? {} : { range_end: b64(rangeEnd(view)) }) } }],
        });
        if (r.succeeded === true) return { created: true, current: [] };
        const responses = (r.responses ?? []) as { response_range?: unknown }[];
        return { created: false, current: kvs(responses[0]?.response_range ?? {}) };
      },
      deleteIfUnchanged: async (key, modRevision) => {
        const r = await call('/v3/kv/txn', {
          compare: [{ key: b64(key), result: 'EQUAL', target: 'MOD', mod_revision: modRevision }],
          success: [{ request_delete_range: { key: b64(key) } }],
        });
        return r.succeeded === true;
      },
    };
  }

  /** Lease requests within `timeoutMs` together: the agent's deadlines are shorter than a hook's. */
  election(timeoutMs: number): EtcdElection {
    const deadline = Date.now() + timeoutMs;
    const call = (path: string, body: object) => this.call(path, body, deadline);
    return {
      grantLease: async (ttl) => {
        const r = await call('/v3/lease/grant', { TTL: String(ttl) });
        return { id: String(r.ID), ttl: Number(r.TTL) };
      },
      keepAlive: async (id) => {
        // The gateway streams keepalive answers; one request gets one answer under "result".
        const r = await call('/v3/lease/keepalive', { ID: id });
        const result = (r.result ?? r) as { TTL?: string };
        return Number(result.TTL ?? 0);
      },
      revokeLease: async (id) => {
        await call('/v3/lease/revoke', { ID: id });
      },
      createWithLease: async (key, value, id) => {
        const r = await call('/v3/kv/txn', {
          compare: [{ key: b64(key), result: 'EQUAL', target: 'CREATE', create_revision: '0' }],
          success: [{ request_put: { key: b64(key), value: b64(value), lease: id } }],
          failure: [{ request_range: { key: b64(key) } }],
        });
        if (r.succeeded === true) return { created: true, current: undefined };
        const responses = (r.responses ?? []) as { response_range?: unknown }[];
        return { created: false, current: kvs(responses[0]?.response_range ?? {})[0] };
      },
    };
  }

  /** The same request against each endpoint in turn until one answers, all within one deadline. */
  private async call(path: string, body: object, deadline: number): Promise<Record<string, unknown>> {
    const { endpoints } = this.config;
    const failures: string[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      const index = (this.current + i) % endpoints.length;
      const endpoint = endpoints[index]!;
      const left = deadline - Date.now();
      if (left <= 0) {
        failures.push(`${endpoint}: not tried, no time left`);
        continue;
      }
      // A stalled endpoint may use its share of what is left, never the others' shares.
      const budget = Math.max(Math.floor(left / (endpoints.length - i)), Math.min(left, 250));
      try {
        const answer = await this.post(endpoint, path, JSON.stringify(body), budget);
        this.current = index;
        return answer;
      } catch (err) {
        if (!(err instanceof Unavailable)) throw err;
        failures.push(`${endpoint} ${err.message}`);
      }
    }
    throw new EtcdError(`etcd did not answer: ${failures.join('; ')}`);
  }

  private async post(endpoint: string, path: string, body: string, budgetMs: number): Promise<Record<string, unknown>> {
    const request = await this.requester();
    const url = new URL(path, endpoint);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const req = request({
        protocol: url.protocol, hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        agent: this.agent!,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish(() => reject(this.unavailable(err))));
        res.on('end', () => finish(() => {
          try {
            resolve(answerOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        }));
      });
      const timer = setTimeout(() => {
        finish(() => reject(new Unavailable(`did not answer within ${(budgetMs / 1000).toFixed(1)} s`)));
        req.destroy();
      }, budgetMs);
      req.on('error', (err) => finish(() => reject(this.unavailable(err))));
      req.end(body);
    });
  }

  /** http or https, loaded on first use: a host on the file backend never loads either. */
  private async requester() {
    if (this.request) return this.request;
    if (this.config.endpoints[0]!.startsWith('https:')) {
      const https = await import('./etcd-https.js');
      const tls = this.config.tls ?? {};
      this.agent = new https.Agent({
        keepAlive: true,
        ...(tls.ca ? { ca: readPem(tls.ca, 'ca') } : {}),
        ...(tls.cert ? { cert: readPem(tls.cert, 'cert') } : {}),
        ...(tls.key ? { key: readPem(tls.key, 'key') } : {}),
      });
      this.request = https.request;
    } else {
      const http = await import('./etcd-http.js');
      this.agent = new http.Agent({ keepAlive: true });
      this.request = http.request;
    }
    return this.request;
  }

  /** Why an endpoint failed, in an admin's words; TLS refusals say which side refused what. */
  private unavailable(err: NodeJS.ErrnoException): Unavailable {
    const code = err.code ?? '';
    const ca = this.config.tls?.ca ? `the CA in ${this.config.tls.ca}` : "the system's CAs (set ipam.tls.ca)";
    const words: Record<string, string> = {
      ECONNREFUSED: 'refused the connection',
      ECONNRESET: 'closed the connection',
      EPIPE: 'closed the connection',
      ENOTFOUND: 'has a host name that does not resolve',
      EAI_AGAIN: 'has a host name that does not resolve (DNS did not answer)',
      EHOSTUNREACH: 'is unreachable (no route)',
      ENETUNREACH: 'is unreachable (no route)',
      ETIMEDOUT: 'did not accept the connection',
      SELF_SIGNED_CERT_IN_CHAIN: `presented a certificate that ${ca} did not sign: refused`,
      DEPTH_ZERO_SELF_SIGNED_CERT: `presented a self-signed certificate that ${ca} does not hold: refused`,
      UNABLE_TO_VERIFY_LEAF_SIGNATURE: `presented a certificate that ${ca} did not sign: refused`,
      UNABLE_TO_GET_ISSUER_CERT_LOCALLY: `presented a certificate that ${ca} did not sign: refused`,
      CERT_HAS_EXPIRED: 'presented an expired certificate: refused',
      ERR_TLS_CERT_ALTNAME_INVALID: 'presented a certificate for another host name: refused',
      ERR_SSL_WRONG_VERSION_NUMBER: 'does not speak TLS: use an http:// endpoint, or enable TLS on etcd',
      ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'requires a client certificate: set ipam.tls.cert and ipam.tls.key',
      ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'refused our client certificate (set ipam.tls.cert and ipam.tls.key to one its CA signed)',
      ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'refused our client certificate: its CA did not sign it',
    };
    return new Unavailable(words[code] ? `${words[code]} (${code})` : err.message || code);
  }
}

/** An endpoint that could not serve the request; the next one may. */
class Unavailable extends Error {}

/** etcd could not be reached, or refused: the message names the endpoints and why. */
export class EtcdError extends NatnsError {}

function answerOf(status: number, text: string): Record<string, unknown> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Unavailable(`answered HTTP ${status} with something that is not etcd's JSON: is this etcd's client URL?`);
  }
  if (status === 200) return json;
  const message = String(json.message ?? json.error ?? `HTTP ${status}`);
  // gRPC codes: 14 unavailable (no leader, stopping), 4 deadline exceeded: another member may answer.
  if (json.code === 14 || json.code === 4) throw new Unavailable(`answered: ${message}`);
  throw new EtcdError(`etcd refused the request: ${message}`);
}

function kvs(range: unknown): KeyValue[] {
  const list = ((range as { kvs?: { key: string; value?: string; mod_revision: string }[] }).kvs) ?? [];
  return list.map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value ?? ''), modRevision: kv.mod_revision }));
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InputError(`cannot read the etcd TLS ${what} file ${path}: ${(err as Error).message}`);
  }
}

const b64 = (key: string | Buffer) => (typeof key === 'string' ? Buffer.from(key, 'utf8') : key).toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function rangeEnd(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      bytes[i]! += 1;
      return bytes.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
