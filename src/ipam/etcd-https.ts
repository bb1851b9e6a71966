// See etcd-http.ts.
export { Agent, request } from 'node:https';
