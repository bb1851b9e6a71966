#!/bin/sh
# natns test guest: bring up eth0 from the kernel command line, then report on the serial
# console, every 2 seconds, whether the probe target answers ping and TCP.
#   natns.name=NAME natns.ip=CIDR natns.gw=GATEWAY | natns.dhcp=1   natns.probe=HOST:PORT
#   natns.serve=PORT: also answer HTTP on PORT with "guest NAME" (the target of a port forward)
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
  esac
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
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
n=0
while true; do
  n=$((n+1))
  if ping -c 1 -W 2 "$HOST" >/dev/null 2>&1; then P=ok; else P=fail; fi
  R=$(echo | nc -w 3 "$HOST" "$PORT" 2>/dev/null | head -n 1)
  if [ -n "$R" ]; then T="ok $R"; else T=fail; fi
  echo "NATNS-PROBE $NAME $n ping=$P tcp=$T"
  sleep 2
done
