import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sh } from './sandbox.js';

/** A port the kernel just handed out on loopback (free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here. */
  wrongCa: string;
}

/** A CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated CA: openssl, EC keys. */
export async function makeCerts(dir: string): Promise<Certs> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ssl = async (...args: string[]) => {
    const r = await sh('openssl', args);
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.all}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'wrong-ca']) {
    await ssl('req', '-x509', ...ec, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=natns test ${ca}`);
  }
  // etcd's JSON gateway dials etcd's own gRPC with the server certificate as its client
  // certificate: with client-certificate auth, the server certificate must allow both uses.
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'], ['client', 'extendedKeyUsage=clientAuth\n']] as const) {
    writeFileSync(f(`${name}.ext`), ext);
    await ssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=natns test ${name}`);
    await ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  }
  return {
    dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'),
    clientCert: f('client.pem'), clientKey: f('client.key'), wrongCa: f('wrong-ca.pem'),
  };
}

/**
 * A one-member etcd (Debian's etcd-server) on loopback ports the kernel picked, its data in
 * `dir`; TLS-only with client-certificate authentication when given certificates. It can be
 * killed, frozen and started again on the same data and ports.
 */
export class EtcdServer {
  private child: (PromiseLike<unknown> & { pid?: number; exitCode: number | null; kill(signal?: NodeJS.Signals): boolean }) | undefined;
  private constructor(
    readonly dir: string,
    readonly clientPort: number,
    private readonly peerPort: number,
    readonly certs?: Certs,
  ) {}

  static async start(dir: string, certs?: Certs): Promise<EtcdServer> {
    const server = new EtcdServer(dir, await freePort(), await freePort(), certs);
    await server.launch();
    return server;
  }

  get endpoint(): string {
    return `${this.certs ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const tls = this.certs
      ? ['--cert-file', this.certs.serverCert, '--key-file', this.certs.serverKey, '--trusted-ca-file', this.certs.ca, '--client-cert-auth']
      : [];
    mkdirSync(this.dir, { recursive: true });
    const log = { file: join(this.dir, 'etcd.log'), append: true };
    this.child = execa('etcd', [
      '--name', 'test', '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.endpoint, '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `test=${peer}`,
      ...tls,
    ], { stdout: log, stderr: log, reject: false, cleanup: true });
    const deadline = Date.now() + 20_000;
    while (!(await this.healthy())) {
      if (this.child.exitCode !== null) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!(await this.healthy())) throw new Error(`etcd did not come up on ${this.endpoint}: ${readFileSync(join(this.dir, 'etcd.log'), 'utf8').slice(-2000)}`);
  }

  /** etcd's /health answers {"health":"true"} once it serves requests. */
  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const options = this.certs
        ? { ca: readFileSync(this.certs.ca), cert: readFileSync(this.certs.clientCert), key: readFileSync(this.certs.clientKey) }
        : {};
      const req = (this.certs ? httpsRequest : httpRequest)(`${this.endpoint}/health`, { ...options, timeout: 1000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  /** SIGKILL, as a crash or a power cut would. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.child;
    this.child = undefined;
  }

  /** Frozen: connections are accepted by the kernel and never answered. */
  freeze(): void {
    process.kill(this.child!.pid!, 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.child!.pid!, 'SIGCONT');
  }

  /** etcdctl against this server, with the client certificate when it has TLS. */
  async ctl(...args: string[]): Promise<string> {
    const tls = this.certs ? ['--cacert', this.certs.ca, '--cert', this.certs.clientCert, '--key', this.certs.clientKey] : [];
    const r = await execa('etcdctl', ['--endpoints', this.endpoint, ...tls, ...args], { env: { ETCDCTL_API: '3' }, reject: false });
    if (r.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Every key under `prefix` with its JSON value. */
  async entries(prefix: string): Promise<Map<string, Record<string, string>>> {
    const out = JSON.parse(await this.ctl('get', '--prefix', prefix, '-w', 'json')) as { kvs?: { key: string; value: string }[] };
    const b = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    return new Map((out.kvs ?? []).map((kv) => [b(kv.key), JSON.parse(b(kv.value)) as Record<string, string>]));
  }

  async stop(): Promise<void> {
    if (!this.child) return;
    try {
      this.thaw();
    } catch {
      // Not frozen, or gone.
    }
    await this.kill();
  }
}
