#!/usr/bin/env python3
"""Transparent proxy stand-in: listen with IP_TRANSPARENT on PORT (IPv6 with a second argument
'6') and, for each accepted connection, print and answer the original destination the client
dialled (the socket's local address, which TPROXY leaves untouched)."""
import socket
import sys

IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75
port = int(sys.argv[1])
v6 = len(sys.argv) > 2 and sys.argv[2] == "6"
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
else:
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if v6 else "0.0.0.0", port))
s.listen(16)
print("ready", flush=True)
while True:
    conn, peer = s.accept()
    name = conn.getsockname()
    dst = ("[%s]:%d" if v6 else "%s:%d") % name[:2]
    print(dst, flush=True)
    conn.sendall(("proxied %s for %s\n" % (dst, peer[0])).encode())
    conn.close()
