#!/usr/bin/env python3
# tests/share/tap.py PORTFILE TARGET_PORT CAPTURE COUNTS: a TCP relay on
# 127.0.0.1 between two agents that records every byte (the "captured
# packets of the test LAN", issue 6 §4). It listens on an ephemeral port
# (written to PORTFILE), forwards each connection to 127.0.0.1:TARGET_PORT,
# appends every byte of both directions to CAPTURE and, when a connection
# ends, a line "N up DOWN_BYTES UP_BYTES" to COUNTS (down = target to
# client). Lives at most 600 s; the test kills it by pid.
import os
import selectors
import socket
import sys
import time

portfile, target, capture, counts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sel = selectors.DefaultSelector()
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(8)
ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ, None)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(tmp, portfile)
cap = open(capture, "ab", buffering=0)
conns = {}  # socket -> [peer socket, conn record, direction]
nconn = 0
deadline = time.monotonic() + 600


def close_pair(s):
    other, rec, _ = conns.pop(s)
    conns.pop(other, None)
    for x in (s, other):
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()
    with open(counts, "a") as f:
        f.write("%d up %d %d\n" % (rec["n"], rec["down"], rec["up"]))


while time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1.0):
        s = key.fileobj
        if s is ls:
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                continue
            t = socket.create_connection(("127.0.0.1", target))
            nconn += 1
            rec = {"n": nconn, "down": 0, "up": 0}
            conns[c] = [t, rec, "up"]
            conns[t] = [c, rec, "down"]
            c.setblocking(False)
            t.setblocking(False)
            sel.register(c, selectors.EVENT_READ, None)
            sel.register(t, selectors.EVENT_READ, None)
            continue
        if s not in conns:
            continue
        other, rec, d = conns[s]
        try:
            b = s.recv(65536)
        except (ConnectionResetError, BlockingIOError):
            b = b""
        if not b:
            close_pair(s)
            continue
        cap.write(b)
        rec[d] += len(b)
        other.setblocking(True)
        try:
            other.sendall(b)
        except OSError:
            close_pair(s)
            continue
        other.setblocking(False)
