#!/bin/bash
# tests/lan/agents_faults.sh BUILD_DIR SRC_DIR (ctest lan_agents_faults; root,
# exit 77 = skipped): faulty peers on the simulated cabinet LAN, agents found
# over mDNS only (no static peer).
#   1. SIGKILL of the receiving agent b in the middle of a large initial
#      stream (300 patients + their consultations and documents from a),
#      restart (new port: found again through mDNS): a, b, c converge, no
#      duplicate row, integrity_check ok.
#   2. a device d that holds the cabinet key but is in nobody's roster: its
#      mDNS tags are valid, it dials a, b, c; each refuses it after Noise
#      message 3 and audits it; nothing of d's data arrives, d gets nothing.
#   3. a peer that never answers the handshake: c's agent frozen (SIGSTOP;
#      its kernel still accepts the TCP connections). a and b keep syncing
#      with each other, give up on c (stall, then a 10 s handshake timeout),
#      keep answering their control socket; SIGCONT: all three converge.
set -u
NET_BUILD=$1
NET_SRC=$2
. "$(dirname "$0")/netlib.sh"
net_init agfault
net_log "namespaces ${NET_P}*, temp $NET_TMP"
for n in 1 2 3 4; do net_host $n; done
for n in a b c d; do ag_newdb $n; done
sh "$NET_SRC/sql/demo/generate.sh" "$NET_TMP/a.db" 300 2 7 >/dev/null 2>&1 || net_fail "generate"
ag_q d "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	VALUES('Intrus','X','1980-01-01','M','2024-01-01')"
ag_cabinet a b c
# d: same cabinet key, enrolled nowhere else (its own roster knows a, b, c;
# init --same-cabinet-as adds it to c's roster: put c's back)
cp "$NET_TMP/h_c/roster.ini" "$NET_TMP/roster.abc"
"$(ag_bin)" init --home "$NET_TMP/h_d" --db "$NET_TMP/d.db" --tables "$NET_SRC/sql/demo/tables.ini" \
	--practitioner Martin --device-name d --same-cabinet-as "$NET_TMP/h_c" >>"$NET_TMP/init.out" 2>&1 ||
	net_fail "init d"
cp "$NET_TMP/roster.abc" "$NET_TMP/h_c/roster.ini"
grep -q 'name = d$' "$NET_TMP/h_d/roster.ini" || net_fail "d is not in its own roster"
for n in a b c; do
	grep -q 'name = d$' "$NET_TMP/h_$n/roster.ini" && net_fail "d is in $n's roster"
done
total=$(ag_q a "SELECT count(*) FROM patient")

dups() { # NAME: patients present twice
	ag_q "$1" "SELECT count(*) FROM (SELECT nom, prenom, date_naissance, count(*) c
		FROM patient GROUP BY 1, 2, 3 HAVING c > 1)"
}

# 1. SIGKILL in the middle of the stream
ag_start a 1
ag_start b 2
ag_start c 3
i=0
until [ "$(ag_q b "SELECT count(*) FROM patient")" -ge 100 ]; do
	i=$((i + 1))
	[ $i -le 1200 ] || net_fail "nothing arrived on b in 60 s"
	sleep 0.05
done
ag_stop b KILL
got=$(ag_q b "SELECT count(*) FROM patient")
[ "$got" -lt "$total" ] || net_log "note: the stream had ended before the kill ($got rows)"
net_log "b killed (-9) with $got of $total patients"
[ "$(ag_q b 'PRAGMA integrity_check')" = ok ] || net_fail "b's database after the kill"
ag_start b 2
ag_converged 120 a b c
for n in a b c; do
	[ "$(ag_q $n "SELECT count(*) FROM patient")" = "$total" ] || net_fail "$n: patient count"
	[ "$(dups $n)" = "$(dups a)" ] || net_fail "$n: duplicates"
	[ "$(ag_q $n "SELECT count(*) FROM consultation")" = "$(ag_q a "SELECT count(*) FROM consultation")" ] ||
		net_fail "$n: consultation count"
	[ "$(ag_q $n 'PRAGMA integrity_check')" = ok ] || net_fail "integrity_check on $n"
done
net_log "ok: b killed mid-stream and restarted: converged, no duplicate"

# 2. a device not in the roster
ag_start d 4
for n in a b c; do
	until_ok 30 grep -q "handshake-rejected.*device not in the roster (after message 3)" \
		"$NET_TMP/$n.log" || net_fail "$n did not refuse d"
done
sleep 1
for n in a b c; do
	[ "$(ag_q $n "SELECT count(*) FROM patient WHERE nom='Intrus'")" = 0 ] ||
		net_fail "d's data reached $n"
	ag_status $n | grep -q '"name":"d"' && net_fail "$n lists d"
done
[ "$(ag_q d "SELECT count(*) FROM patient")" = 1 ] || net_fail "d received data"
grep -q "session with .* up" "$NET_TMP/d.log" && net_fail "d got a session"
ag_stop d
net_log "ok: d (not in the roster) refused by a, b, c after message 3; nothing crossed"

# 3. a peer that never answers the handshake (frozen process)
kill -STOP "${AG_PID[c]}"
t0=$(now_ms)
for k in 1 2 3 4 5; do
	ag_q a "UPDATE patient SET telephone='fa$k' WHERE id=$k"
	ag_q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
		VALUES('Frozen$k','X','1980-01-01','F','2024-01-01')"
done
ag_converged 20 a b
[ "$(ag_q c "SELECT count(*) FROM patient WHERE nom LIKE 'Frozen%'")" = 0 ] || net_fail "c is not frozen"
until_ok 40 grep -q "handshake timeout" "$NET_TMP/a.log" ||
	net_fail "a never gave up a handshake with the frozen c"
ag_status a | grep -q '"state"' || net_fail "a's control socket does not answer"
net_log "ok: c frozen: a and b in sync, a's handshake to c timed out after $(($(now_ms) - t0)) ms"
ag_q a "UPDATE patient SET ville='apres' WHERE id=1"
kill -CONT "${AG_PID[c]}"
ag_converged 40 a b c
[ "$(ag_q c "SELECT ville FROM patient WHERE id=(SELECT id FROM patient WHERE telephone='fa1')")" = apres ] ||
	net_fail "c lacks the last edit"
for n in a b c; do
	ag_stop $n
	grep -q 'AddressSanitizer\|runtime error' "$NET_TMP/$n.log" && net_fail "sanitizer report in $n.log"
done
net_log "ok: c thawed, converged"
echo ok
