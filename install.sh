#!/usr/bin/env bash
# Install natns on a Debian 12 KVM host: packages, the natns command, the libvirt hooks and a
# default config, then restart the libvirt daemons so they read the hooks. Safe to run again.
#   ./install.sh              install or upgrade
#   ./install.sh --uninstall  remove the command and the hooks; config and state stay
set -euo pipefail

PREFIX=/usr/local/lib/natns
BIN=/usr/local/bin/natns
HOOKS=/etc/libvirt/hooks
CONFIG_DIR=/etc/natns
STATE_DIR=/var/lib/natns
LOG_DIR=/var/log/natns
LOGROTATE=/etc/logrotate.d/natns
COMPLETION=/usr/share/bash-completion/completions/natns
MANPAGE=/usr/local/share/man/man8/natns.8
# iperf3 is for `npm run bench` only (its Debian package leaves the daemon off). etcd-server and
# etcd-client are for the tests (they start their own etcd) and for hosts that run an etcd member;
# natns itself keeps leases in files unless its config names an etcd cluster.
# socat carries the hook shims' calls to natns agent (without it they run the Node hooks).
PACKAGES=(iproute2 nftables procps libvirt-daemon-system libvirt-clients libvirt-dev dnsmasq-base socat
  qemu-system-x86 busybox-static linux-image-cloud-amd64 cpio build-essential python3 iperf3
  etcd-server etcd-client)

say() { printf 'natns install: %s\n' "$*"; }
die() { printf 'natns install: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
cd "$(dirname "$(readlink -f "$0")")"

have_systemd() { [ -d /run/systemd/system ]; }

# libvirt reads hooks when its daemons start: restart whichever flavour this host runs.
restart_libvirt() {
  if have_systemd; then
    if systemctl is-active --quiet virtnetworkd 2>/dev/null || systemctl is-enabled --quiet virtnetworkd.socket 2>/dev/null; then
      say "restarting virtnetworkd and virtqemud"
      systemctl try-restart virtnetworkd virtqemud || true
    else
      say "restarting libvirtd"
      systemctl restart libvirtd
    fi
    return
  fi
  pgrep -x virtlogd >/dev/null || virtlogd -d
  if pgrep -x libvirtd >/dev/null; then
    say "restarting libvirtd (no systemd)"
    pkill -TERM -x libvirtd || true
    for _ in $(seq 1 100); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
  else
    say "starting libvirtd (no systemd)"
  fi
  libvirtd -d
  for _ in $(seq 1 100); do [ -S /run/libvirt/libvirt-sock ] && virsh -c qemu:///system uri >/dev/null 2>&1 && return; sleep 0.1; done
  die "libvirtd did not come up; see its log"
}

UNIT=/etc/systemd/system/natns-reconcile.service
AGENT_UNIT=/etc/systemd/system/natns-agent.service

if [ "${1:-}" = "--uninstall" ]; then
  if have_systemd; then systemctl disable --now natns-reconcile.service natns-agent.service 2>/dev/null || true; fi
  rm -f "$HOOKS/network.d/natns" "$HOOKS/qemu.d/natns" "$BIN" "$UNIT" "$AGENT_UNIT" "$LOGROTATE" "$COMPLETION" "$MANPAGE"
  rm -rf "$PREFIX"
  restart_libvirt
  say "removed the natns command and hooks; $CONFIG_DIR and $STATE_DIR are kept"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian enables and starts etcd when it installs etcd-server. A server natns just installed is
# only its binaries: leave its service off, so installing natns starts no etcd member. An etcd
# that was here before natns is the admin's and stays as it is.
if [[ " ${missing[*]} " == *" etcd-server "* ]]; then
  say "leaving the etcd service disabled (natns uses an etcd cluster only when its config names one)"
  if have_systemd; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  else
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
    update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
fi

command -v node >/dev/null || die "Node.js 20 or newer is needed (node not found)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))"

say "building"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

say "installing into $PREFIX"
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
cp -r dist/. "$PREFIX.new/"
# The libvirt binding is native: it ships as the already-built module, with production deps only.
cp package.json package-lock.json "$PREFIX.new/"
cp -a node_modules "$PREFIX.new/"
(cd "$PREFIX.new" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$PREFIX"
mv "$PREFIX.new" "$PREFIX"
ln -sfn "$PREFIX/natns.mjs" "$BIN"
# Generated from the command line at build time (scripts/build.mjs).
install -D -m 0644 dist/natns.bash "$COMPLETION"
install -D -m 0644 dist/natns.8 "$MANPAGE"

# libvirt 9 runs every executable in these folders; an admin's own hooks/network or hooks/qemu stay untouched.
mkdir -p "$HOOKS/network.d" "$HOOKS/qemu.d"
ln -sfn "$PREFIX/hook-network.sh" "$HOOKS/network.d/natns"
ln -sfn "$PREFIX/hook-qemu.sh" "$HOOKS/qemu.d/natns"

install -d -m 0755 -o root -g root "$CONFIG_DIR"
# State is root's alone (0711: dnsmasq, as nobody, passes through to its hosts file; README,
# "State files"); this also tightens what an older natns left readable.
install -d -m 0711 -o root -g root "$STATE_DIR"
sh scripts/state-modes.sh "$STATE_DIR"
install -d -m 0750 -o root -g root "$LOG_DIR"
if [ ! -e "$CONFIG_DIR/config.json" ]; then
  say "writing an empty $CONFIG_DIR/config.json (add upstream pools there; see README)"
  printf '{\n  "pools": {}\n}\n' > "$CONFIG_DIR/config.json"
  chmod 0644 "$CONFIG_DIR/config.json"
fi

# natns appends to its log one line at a time, opening it each time: a plain rename-and-create
# rotation is safe (no copytruncate, no signal).
if [ -d "$(dirname "$LOGROTATE")" ]; then
cat > "$LOGROTATE" <<ROTATE
$LOG_DIR/*.log {
	weekly
	rotate 8
	compress
	delaycompress
	missingok
	notifempty
	create 0640 root root
}
ROTATE
chmod 0644 "$LOGROTATE"
fi

# Boot-time reconcile: after libvirt has started its autostart networks, converge whatever a
# crash or reboot left (without systemd, run 'natns check --repair' after libvirtd starts).
if [ -d "$(dirname "$UNIT")" ]; then
cat > "$UNIT" <<'UNIT'
[Unit]
Description=natns: converge the namespace routers with libvirt's networks
After=libvirtd.service virtnetworkd.service virtqemud.service
Wants=libvirtd.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/natns check --repair

[Install]
WantedBy=multi-user.target
UNIT
fi
# The agent serves libvirt's hook calls warm (network starts without a Node start-up) and elects
# the active router of stretched networks (<natns:vxlan>), which refuse to start without it.
# Before libvirtd, so autostarted networks find it running. Without systemd, start it by hand:
# 'natns agent >>/var/log/natns/agent.log 2>&1 &'. Without an agent the hooks do the work themselves.
if [ -d "$(dirname "$AGENT_UNIT")" ]; then
cat > "$AGENT_UNIT" <<'UNIT'
[Unit]
Description=natns agent: libvirt's hooks served warm; one active router per stretched network, elected in etcd
After=network-online.target
Wants=network-online.target
Before=libvirtd.service virtnetworkd.service

[Service]
ExecStart=/usr/local/bin/natns agent
Restart=always
RestartSec=1
# SIGTERM hands the elections over at once; the agent demotes its routers before exiting.
KillMode=mixed

[Install]
WantedBy=multi-user.target
UNIT
fi
if have_systemd; then
  systemctl daemon-reload && systemctl enable natns-reconcile.service natns-agent.service
  systemctl try-restart natns-agent.service || true
elif pid=$(cat "$STATE_DIR/agent.pid" 2>/dev/null) && [ -n "$pid" ] && grep -qa agent "/proc/$pid/cmdline" 2>/dev/null; then
  # A running agent would serve the hooks with the old code: restart it on the new one.
  say "restarting natns agent (pid $pid) on the new code"
  kill -TERM "$pid" || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  nohup "$BIN" agent >>"$LOG_DIR/agent.log" 2>&1 </dev/null &
fi

restart_libvirt
say "done: $(natns --help | head -n 1)"
