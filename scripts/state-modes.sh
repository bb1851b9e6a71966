#!/bin/sh
# Bring a natns state folder to its policy (README, "State files"): everything root's alone, 0700
# folders and 0600 files, except the way to each dnsmasq's hosts file (dnsmasq re-reads it as
# nobody:nogroup): the state folder and dhcp/ 0711 (others pass, cannot list), dhcp/UUID/
# root:nogroup 0710, its hosts file root:nogroup 0640, its pid file dnsmasq's own. lab/ is the
# demo's (guest serial logs QEMU writes), not natns state, and stays as the demo made it. natns
# creates new files this way itself; this tightens what an older natns left readable. Safe to
# run again.
#   scripts/state-modes.sh /var/lib/natns
set -eu
state=${1:?usage: state-modes.sh STATE_DIR}
[ -d "$state" ] || exit 0
chown root:root "$state"
chmod 0711 "$state"
find "$state" -mindepth 1 \( -path "$state/dhcp" -o -path "$state/lab" \) -prune -o -type d -exec chmod 0700 {} + -o -type f -exec chmod 0600 {} +
[ -d "$state/dhcp" ] || exit 0
chmod 0711 "$state/dhcp"
for dir in "$state"/dhcp/*/; do
  [ -d "$dir" ] || continue
  chown root:nogroup "$dir"
  chmod 0710 "$dir"
  find "$dir" -mindepth 1 -maxdepth 1 -type f ! -name dnsmasq.pid ! -name hosts -exec chmod 0600 {} +
  if [ -f "${dir}hosts" ]; then
    chown root:nogroup "${dir}hosts"
    chmod 0640 "${dir}hosts"
  fi
done
