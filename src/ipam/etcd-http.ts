// Node's http and https, each behind its own module so the bundles load only the one an etcd
// endpoint needs, when it is first needed (https brings TLS: about 8 ms more per hook process).
export { Agent, request } from 'node:http';
