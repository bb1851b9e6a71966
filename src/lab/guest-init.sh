#!/bin/sh
# natns test guest: bring up eth0 from the kernel command line, then report on the serial
# console, every 2 seconds, whether the probe target answers ping and TCP.
#   natns.name=NAME natns.ip=CIDR natns.gw=GATEWAY | natns.dhcp=1   natns.probe=HOST:PORT
#   natns.serve=PORT: also answer HTTP on PORT with "guest NAME" (the target of a port forward)
#   natns.probe6=ADDRESS: also take an IPv6 address by SLAAC and probe ADDRESS (same port) over IPv6
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
# The image writes the module list (GUEST_MODULES in image.ts) in load order.
for m in $(cat /lib/modules/load-order); do
  insmod /lib/modules/$m.ko 2>/dev/null
done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    natns.name=*) NAME=${arg#natns.name=} ;;
    natns.ip=*) IP=${arg#natns.ip=} ;;
    natns.gw=*) GW=${arg#natns.gw=} ;;
    natns.dhcp=*) DHCP=1 ;;
    natns.probe=*) PROBE=${arg#natns.probe=} ;;
    natns.serve=*) SERVE=${arg#natns.serve=} ;;
    natns.probe6=*) PROBE6=${arg#natns.probe6=} ;;
  esac
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
if [ -n "$PROBE6" ]; then
  # SLAAC, by the kernel (IPv6 is built into Debian's cloud kernel: no module to load): take
  # router advertisements on eth0 and configure an address from their prefix. These are the
  # kernel's defaults for a host that does not forward; set here so the guest never depends on them.
  echo 1 > /proc/sys/net/ipv6/conf/eth0/accept_ra
  echo 1 > /proc/sys/net/ipv6/conf/eth0/autoconf
fi
ip link set eth0 up
if [ -n "$DHCP" ]; then
  udhcpc -i eth0 -t 20 -T 1 -n -q -s /etc/udhcpc.sh >/dev/null 2>&1
else
  ip addr add "$IP" dev eth0
  ip route add default via "$GW"
fi
if [ -n "$SERVE" ]; then
  mkdir -p /www
  echo "guest $NAME" > /www/index.html
  httpd -p "$SERVE" -h /www
fi
ADDR=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
echo "NATNS-GUEST $NAME up $ADDR"
HOST=${PROBE%:*}
PORT=${PROBE#*:}
# The SLAAC address once its duplicate address detection is done ("tentative" until then).
addr6() {
  ip -6 -o addr show dev eth0 scope global | grep -v tentative | awk '{print $4}' | head -n 1
}
if [ -n "$PROBE6" ]; then
  # SLAAC takes the kernel two duplicate address detections (link-local, then the global
  # address), about 3-5 s after the link comes up: wait for it (at most 20 s), so the first
  # round probes both families.
  i=0
  while [ -z "$(addr6)" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
fi
# probe HOST: "ping=ok|fail tcp=ok ANSWER|fail"
probe() {
  if ping -c 1 -W 2 "$1" >/dev/null 2>&1; then P=ok; else P=fail; fi
  R=$(echo | nc -w 3 "$1" "$PORT" 2>/dev/null | head -n 1)
  if [ -n "$R" ]; then T="ok $R"; else T=fail; fi
  echo "ping=$P tcp=$T"
}
n=0
while true; do
  n=$((n+1))
  echo "NATNS-PROBE $NAME $n $(probe "$HOST")"
  if [ -n "$PROBE6" ]; then
    ADDR6=$(addr6)
    if [ -n "$ADDR6" ]; then
      echo "NATNS-PROBE6 $NAME $n addr=$ADDR6 $(probe "$PROBE6")"
    else
      echo "NATNS-PROBE6 $NAME $n addr=none ping=fail tcp=fail"
    fi
  fi
  sleep 2
done
