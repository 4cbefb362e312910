#!/bin/sh
# tests/agent/silent_test.sh BUILD_DIR SRC_DIR: a peer that never answers
# the handshake. The agent dials a listener that accepts and stays silent:
# it gives up after the 10 s handshake timeout and redials (backoff); a
# client that connects to the agent and sends nothing is dropped after 10 s;
# meanwhile the agent keeps serving its control socket.
. "$(dirname "$0")/lib.sh"

newdb a
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
end = time.time() + 60
s.settimeout(1)
while time.time() < end:
    try:
        conns.append(s.accept())
        print("accepted", flush=True)
    except socket.timeout:
        pass
' >"$tmp/silent.out" &
pids="$pids $!"
until_eq 60 'head -n1 "$tmp/silent.out" | grep -c "^[0-9]"' 1
sport=$(head -n1 "$tmp/silent.out")
start a --peer "127.0.0.1:$sport"
# a silent client on the agent's port
python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.settimeout(60)
t = time.time()
d = c.recv(100)
print("closed after %.1f s, %d bytes" % (time.time() - t, len(d)), flush=True)
' "$(port a)" >"$tmp/client.out" &
cpid=$!
pids="$pids $cpid"
status a | grep -q '"state":"offline"' || fail "status while a peer is silent"
until_eq 60 'grep -c "handshake timeout" "$tmp/a.log" | tr -d " " | cut -c1 | sed "s/[1-9]/y/"' y
wait "$cpid" || fail "silent client"
grep -q "closed after 1[0-9]\.[0-9] s, 0 bytes" "$tmp/client.out" ||
	fail "the silent client was not dropped after 10 s: $(cat "$tmp/client.out")"
# the dial to the silent peer is retried
until_eq 60 'grep -c accepted "$tmp/silent.out" | sed "s/^[2-9]$/y/; s/^[0-9][0-9]$/y/"' y
echo ok
