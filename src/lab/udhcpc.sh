#!/bin/sh
# udhcpc calls this with the lease in the environment; apply it to the interface.
case "$1" in
  bound|renew)
    # IPv4 only: flushing every family would also take the IPv6 link-local and SLAAC addresses
    # the kernel may have made by then.
    ip -4 addr flush dev "$interface"
    # Option 26, when the server sends it (a stretched network's VXLAN MTU).
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    ;;
esac
