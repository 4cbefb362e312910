#!/usr/bin/env python3
"""tests/tray/ctl_client.py: test client of the agent's control socket
(docs/PROTOCOL.md §8).

  ctl_client.py SOCK request VERB...     one request, prints the answer line
  ctl_client.py SOCK subscribe OUTFILE [labels]  subscribes ("subscribe
                                          labels" with labels), appends each
                                          event line to OUTFILE (flushed),
                                          exits at EOF
  ctl_client.py SOCK sleeper              subscribes and never reads
  ctl_client.py SOCK mute                 connects, sends half a request, waits
  ctl_client.py SOCK fake-agent EVENTS    serves SOCK as a fake agent: `status`
                                          answers a synced status; `subscribe`
                                          gets it, then each line of the file
                                          EVENTS, 0.3 s apart, then stays open
"""
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "request":
        s = connect(path)
        s.sendall(("cabsync-control/1 " + " ".join(sys.argv[3:]) + "\n").encode())
        data = b""
        s.settimeout(10)
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        sys.stdout.write(data.decode())
        return 0
    if mode == "subscribe":
        s = connect(path)
        if len(sys.argv) > 4 and sys.argv[4] == "labels":
            s.sendall(b"cabsync-control/1 subscribe labels\n")
        else:
            s.sendall(b"cabsync-control/1 subscribe\n")
        with open(sys.argv[3], "a") as out:
            buf = b""
            while True:
                b = s.recv(65536)
                if not b:
                    out.write("EOF\n")
                    out.flush()
                    return 0
                buf += b
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    out.write(line.decode() + "\n")
                    out.flush()
    if mode == "sleeper":
        s = connect(path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"cabsync-control/1 subscribe\n")
        time.sleep(3600)
    if mode == "fake-agent":
        status = ('{"state":"synced","device":"cc","name":"desk","port":1,'
                  '"db_version":3,"pending":0,"conflicts":0,"peers":[{"device":"aa",'
                  '"name":"laptop","online":true,"revoked":false,"replica":true,'
                  '"addr":"","last_sync":1700000000,"pending":0}]}')
        with open(sys.argv[3]) as f:
            events = [l.strip() for l in f if l.strip()]
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(8)
        keep = []
        while True:
            c, _ = srv.accept()
            req = b""
            while not req.endswith(b"\n") and len(req) < 64:
                b = c.recv(64)
                if not b:
                    break
                req += b
            if req in (b"cabsync-control/1 subscribe\n",
                       b"cabsync-control/1 subscribe labels\n"):
                c.sendall(('{"event":"status",' + status[1:] + "\n").encode())
                for e in events:
                    time.sleep(0.3)
                    c.sendall((e + "\n").encode())
                keep.append(c)
            else:
                c.sendall((status + "\n").encode())
                c.close()
    if mode == "mute":
        s = connect(path)
        s.sendall(b"cabsync-control/1 sta")
        time.sleep(3600)
    return 2


if __name__ == "__main__":
    sys.exit(main())
