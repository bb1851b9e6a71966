/** Where natns keeps things; each can be moved by an environment variable (tests use their own). */
export const paths = {
  config: () => process.env.NATNS_CONFIG ?? '/etc/natns/config.json',
  state: () => process.env.NATNS_STATE_DIR ?? '/var/lib/natns',
  log: () => process.env.NATNS_LOG_DIR ?? '/var/log/natns',
};
