#!/usr/bin/python3
"""tests/interop/noise_peer.py: the other side of the interop tests, on
Debian's python3-dissononce (an independent Noise implementation). Run it with
/usr/bin/python3. Same command line and output as noise-peer
(docs/PROTOCOL.md §7): --initiator HOST:PORT | --responder PORT, --xx,
--psk-hex, --prologue-hex, --static-key-hex; 2-byte big-endian length per
Noise message. Prints local_static=, handshake_hash=, remote_static=, then
echoes (responder) or sends stdin lines and prints replies (initiator)."""
import argparse
import socket
import struct
import sys

from dissononce.dh.x25519.private import PrivateKey
from dissononce.extras.meta.protocol.factory import NoiseProtocolFactory

TIMEOUT = 20


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock):
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    (n,) = struct.unpack(">H", hdr)
    body = recv_exact(sock, n) if n else b""
    if body is None:
        raise SystemExit("noise_peer.py: truncated frame")
    return body


def send_frame(sock, m):
    sock.sendall(struct.pack(">H", len(m)) + bytes(m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--initiator")
    ap.add_argument("--responder", type=int)
    ap.add_argument("--xx", action="store_true")
    ap.add_argument("--psk-hex")
    ap.add_argument("--prologue-hex", default="")
    ap.add_argument("--static-key-hex")
    a = ap.parse_args()
    initiator = a.initiator is not None
    if initiator == (a.responder is not None) or (a.psk_hex is None) != a.xx:
        ap.error("--initiator or --responder; --psk-hex unless --xx")

    name = "Noise_%s_25519_ChaChaPoly_BLAKE2b" % ("XX" if a.xx else "XXpsk0")
    proto = NoiseProtocolFactory().get_noise_protocol(name)
    s = proto.dh.generate_keypair(
        PrivateKey(bytes.fromhex(a.static_key_hex)) if a.static_key_hex else None)
    hs = proto.create_handshakestate()
    psks = None if a.xx else (bytes.fromhex(a.psk_hex),)
    hs.initialize(proto.pattern, initiator, bytes.fromhex(a.prologue_hex), s=s, psks=psks)
    print("local_static=" + s.public.data.hex(), flush=True)

    if initiator:
        host, port = a.initiator.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    else:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", a.responder))
        srv.listen(1)
        srv.settimeout(TIMEOUT)
        print("listening=%d" % srv.getsockname()[1], flush=True)
        sock, _ = srv.accept()
        srv.close()
    sock.settimeout(TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # XX: initiator writes messages 1 and 3, responder message 2.
    turn_write = initiator
    cs = None
    while cs is None:
        if turn_write:
            buf = bytearray()
            cs = hs.write_message(b"", buf)
            send_frame(sock, buf)
        else:
            m = recv_frame(sock)
            if m is None:
                raise SystemExit("noise_peer.py: closed during handshake")
            try:
                cs = hs.read_message(m, bytearray())
            except Exception as e:  # dissononce raises on a bad tag
                print("noise_peer.py: noise failure: %r" % (e,), file=sys.stderr)
                sys.exit(2)
        turn_write = not turn_write
    send_cs, recv_cs = cs if initiator else (cs[1], cs[0])
    print("handshake_hash=" + hs.symmetricstate.get_handshake_hash().hex(), flush=True)
    print("remote_static=" + hs.rs.data.hex(), flush=True)

    if initiator:
        for line in sys.stdin.read().splitlines():
            send_frame(sock, send_cs.encrypt_with_ad(b"", line.encode()))
            m = recv_frame(sock)
            if m is None:
                raise SystemExit("noise_peer.py: connection lost")
            print(recv_cs.decrypt_with_ad(b"", m).decode(), flush=True)
        sock.close()
    else:
        while True:
            m = recv_frame(sock)
            if m is None:
                break
            send_frame(sock, send_cs.encrypt_with_ad(b"", recv_cs.decrypt_with_ad(b"", m)))
        sock.close()


main()
