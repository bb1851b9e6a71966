# natns list: what the kernel holds in many router namespaces, read by one process. Node cannot
# enter a network namespace, and a process per namespace (nsenter ip/nft) costs ~10 ms each:
# 10 s for a thousand routers. This script enters each /run/netns/NAME given as an argument in
# turn (setns), asks netlink for its links, addresses, main-table default routes and nft tables,
# and prints one JSON line per namespace. Read-only; no shell; standard library only.
import ctypes, json, os, socket, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def dump(proto, msgtype, body):
    """One netlink dump: the attributes of every answer, as (header fields, {type: bytes})."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    try:
        s.send(struct.pack('=IHHII', 16 + len(body), msgtype, 0x301, 1, 0) + body)
        out = []
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from('=IH', data, off)
                if typ in (2, 3):
                    return out
                out.append(data[off + 16:off + ln])
                off += (ln + 3) & ~3
    finally:
        s.close()


def attrs(buf, start):
    out = {}
    while start + 4 <= len(buf):
        ln, typ = struct.unpack_from('=HH', buf, start)
        if ln < 4:
            break
        out[typ & 0x7fff] = buf[start + 4:start + ln]
        start += (ln + 3) & ~3
    return out


def probe(name):
    fd = os.open('/run/netns/' + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns')
    finally:
        os.close(fd)
    links = {}
    for msg in dump(0, 18, struct.pack('=BxHiII', 0, 0, 0, 0, 0)):  # RTM_GETLINK
        _f, _t, index, flags, _c = struct.unpack_from('=BxHiII', msg)
        a = attrs(msg, 16)
        links[index] = {'name': a.get(3, b'').rstrip(b'\0').decode(), 'up': bool(flags & 1)}
    addrs = []
    for msg in dump(0, 22, struct.pack('=BBBBI', 0, 0, 0, 0, 0)):  # RTM_GETADDR
        family, plen, _fl, _sc, index = struct.unpack_from('=BBBBI', msg)
        a = attrs(msg, 8)
        raw = a.get(2) or a.get(1)
        if raw is None or index not in links:
            continue
        addr = socket.inet_ntop(socket.AF_INET if family == 2 else socket.AF_INET6, raw)
        addrs.append('%s/%d %s' % (addr, plen, links[index]['name']))
    defaults = []
    for msg in dump(0, 26, struct.pack('=BBBBBBBBI', 0, 0, 0, 0, 0, 0, 0, 0, 0)):  # RTM_GETROUTE
        family, dlen, _s, _t, table = struct.unpack_from('=BBBBB', msg)
        a = attrs(msg, 12)
        table = struct.unpack('=I', a[15])[0] if 15 in a else table
        if dlen == 0 and table == 254 and family in (2, 10):
            defaults.append('ipv4' if family == 2 else 'ipv6')
    tables = []
    try:
        for msg in dump(12, (10 << 8) | 1, struct.pack('=BBH', 0, 0, 0)):  # NFT_MSG_GETTABLE
            a = attrs(msg, 4)
            tables.append({2: 'ip', 10: 'ip6', 1: 'inet'}.get(msg[0], str(msg[0])) + ' ' + a.get(1, b'').rstrip(b'\0').decode())
    except OSError:
        pass
    return {'links': {l['name']: l['up'] for l in links.values()}, 'addrs': addrs, 'defaults': sorted(set(defaults)), 'tables': tables}


def main():
    # setns takes the namespace a file names, whatever namespace the thread is in now.
    for name in sys.argv[1:]:
        try:
            result = probe(name)
        except OSError as e:
            result = {'error': e.strerror or str(e)}
        result['ns'] = name
        sys.stdout.write(json.dumps(result) + '\n')


main()
