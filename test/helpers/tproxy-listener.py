#!/usr/bin/env python3
"""Transparent proxy stand-in: listen with IP_TRANSPARENT on PORT and, for each accepted
connection, print and answer the original destination the client dialled (the socket's
local address, which TPROXY leaves untouched)."""
import socket
import sys

IP_TRANSPARENT = 19
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
print("ready", flush=True)
while True:
    conn, peer = s.accept()
    dst = "%s:%d" % conn.getsockname()
    print(dst, flush=True)
    conn.sendall(("proxied %s for %s\n" % (dst, peer[0])).encode())
    conn.close()
