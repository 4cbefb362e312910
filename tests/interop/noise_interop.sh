#!/bin/sh
# tests/interop/noise_interop.sh: one Noise interop run over real loopback TCP
# (127.0.0.1, a free port picked by the responder and printed as listening=).
# usage: noise_interop.sh NOISE_PEER OTHER C_ROLE MODE [EXPECT]
#   NOISE_PEER  our noise-peer binary (cs_wire)
#   OTHER       c | node (npm noise-handshake) | python (python3-dissononce)
#   C_ROLE      initiator | responder: the role noise-peer plays
#   MODE        xxpsk0 | xx
#   EXPECT      ok (default) | wrongpsk: the peers hold different psks and the
#               responder must refuse message 1 | wrongkey: noise-peer expects
#               another remote static key (--expect-remote) and must close
#               (as initiator: after message 2, before writing message 3)
# Checks: both sides print the same handshake hash, each side's remote static
# is the other's local static, and every line the initiator sends comes back
# through the responder's echo. Exit 0 on success; every process is killed
# and every temp file removed on the way out.
set -u
peer=$1 other=$2 crole=$3 mode=$4 expect=${5:-ok}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
rpid=""
cleanup() {
	if [ -n "$rpid" ] && kill -0 "$rpid" 2>/dev/null; then
		kill "$rpid" 2>/dev/null
		wait "$rpid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() {
	echo "noise_interop: FAIL ($other, C as $crole, $mode): $*" >&2
	for f in "$work"/*.out "$work"/*.err; do
		[ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
	done
	exit 1
}
rhex() {
	od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

if [ "$other" = node ] && [ ! -d "$here/node_modules/noise-handshake" ]; then
	fail "npm noise-handshake missing: ./run test installs it (npm ci in tests/interop)"
fi

key_i=$(rhex 32) key_r=$(rhex 32) psk=$(rhex 32) psk_r=$psk
[ "$expect" = wrongpsk ] && psk_r=$(rhex 32)
# cabsync's session prologue: "cabsync/1" 0x00 || a 16-byte cabinet id
prologue=$(printf 'cabsync/1' | od -An -tx1 | tr -d ' \n')00$(rhex 16)
printf '%s\n' "$key_i" >"$work/key_i"
printf '%s\n' "$key_r" >"$work/key_r"

# side ROLE KEYHEX KEYFILE PSKHEX TARGET: the command line of one side
side() {
	role=$1 keyhex=$2 keyfile=$3 pskhex=$4 target=$5 impl=$other
	[ "$role" = "$crole" ] && impl=c
	set -- "--$role" "$target" --prologue-hex "$prologue"
	if [ "$mode" = xx ]; then set -- "$@" --xx; else set -- "$@" --psk-hex "$pskhex"; fi
	case $impl in
	c)
		[ "$expect" = wrongkey ] && [ "$role" = "$crole" ] &&
			set -- "$@" --expect-remote "$(rhex 32)"
		echo "$peer" "$@" --static-key-file "$keyfile"
		;;
	node) echo node "$here/noise_peer.js" "$@" --static-key-hex "$keyhex" ;;
	python) echo "$py" "$here/noise_peer.py" "$@" --static-key-hex "$keyhex" ;;
	*) fail "unknown implementation $impl" ;;
	esac
}

# shellcheck disable=SC2046
$(side responder "$key_r" "$work/key_r" "$psk_r" 0) >"$work/resp.out" 2>"$work/resp.err" &
rpid=$!
port=""
i=0
while [ $i -lt 300 ]; do
	port=$(sed -n 's/^listening=//p' "$work/resp.out")
	[ -n "$port" ] && break
	kill -0 "$rpid" 2>/dev/null || fail "responder exited before listening"
	sleep 0.1
	i=$((i + 1))
done
[ -n "$port" ] || fail "responder did not listen within 30 s"

printf 'hello from the initiator\nsecond line: é ü 0123456789\n' >"$work/lines"
# shellcheck disable=SC2046
timeout 30 $(side initiator "$key_i" "$work/key_i" "$psk" "127.0.0.1:$port") \
	<"$work/lines" >"$work/init.out" 2>"$work/init.err"
irc=$?
i=0
while kill -0 "$rpid" 2>/dev/null && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -0 "$rpid" 2>/dev/null && fail "responder still running 30 s after the initiator"
wait "$rpid"
rrc=$?
rpid=""

get() {
	sed -n "s/^$2=//p" "$work/$1.out"
}
if [ "$expect" = wrongpsk ]; then
	[ "$irc" -ne 0 ] && [ "$rrc" -ne 0 ] || fail "a wrong psk was accepted (rc $irc/$rrc)"
	[ -z "$(get init handshake_hash)$(get resp handshake_hash)" ] || fail "handshake completed"
	if [ "$crole" = responder ]; then
		grep -q "message 1 failed authentication" "$work/resp.err" ||
			fail "noise-peer did not refuse message 1"
	fi
	echo "noise_interop: ok ($other, C as $crole, $mode, wrong psk refused at message 1)"
	exit 0
fi
if [ "$expect" = wrongkey ]; then
	if [ "$crole" = initiator ]; then crc=$irc c=init o=resp; else crc=$rrc c=resp o=init; fi
	[ "$crc" -eq 3 ] || fail "noise-peer accepted an unexpected static key (rc $crc)"
	[ -z "$(get $c handshake_hash)" ] || fail "noise-peer printed a handshake hash"
	if [ "$crole" = initiator ]; then
		# it closed before message 3: the responder never completes
		[ -z "$(get $o handshake_hash)" ] || fail "the responder got message 3"
	fi
	echo "noise_interop: ok ($other, C as $crole, unexpected static key refused)"
	exit 0
fi
[ "$irc" -eq 0 ] || fail "initiator exited $irc"
[ "$rrc" -eq 0 ] || fail "responder exited $rrc"
hi=$(get init handshake_hash) hr=$(get resp handshake_hash)
[ ${#hi} -eq 128 ] || fail "no handshake hash from the initiator"
[ "$hi" = "$hr" ] || fail "handshake hashes differ: $hi vs $hr"
[ "$(get init remote_static)" = "$(get resp local_static)" ] || fail "initiator's remote_static"
[ "$(get resp remote_static)" = "$(get init local_static)" ] || fail "responder's remote_static"
[ -n "$(get init local_static)" ] || fail "no local_static"
grep -v '=' "$work/init.out" >"$work/replies"
cmp -s "$work/lines" "$work/replies" || fail "echoed transport messages differ"
echo "noise_interop: ok ($other, C as $crole, $mode): handshake_hash=$hi"
