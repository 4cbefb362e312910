#!/bin/bash
# tests/lan/agents_partition.sh BUILD_DIR SRC_DIR (ctest lan_agents_partition;
# root, exit 77 = skipped): a partition of the cabinet LAN, three agents found
# over mDNS (no static peer).
#   The bridge drops every frame between {h1, h2} and {h3} (nftables) for
#   CS_PART_S seconds (default 15: longer than TCP's retransmission backoff
#   makes a stalled session useful, shorter than the 30 s dead-peer timeout).
#   Meanwhile both sides edit: new rows on each side, and the SAME cell of the
#   same patient on a and on c (a concurrent edit). a and b stay in sync
#   across the partition; c does not get a's edits. Then the heal:
#   - converged (identical canonical dumps) within 5 s of the heal (measured,
#     printed; beyond a load average of 4 per core the bound grows with the
#     load, up to 30 s; CS_PART_GOAL_MS overrides it);
#   - nothing lost: every row of both sides everywhere;
#   - the concurrent edit is in cs_conflicts on every device, with the same
#     winner everywhere.
#   A fourth device d starts on h4, c's side, during the partition (no
#   address cache: mDNS only): after the heal a and b get a session with d
#   too, and the agents that saw a device come back re-published their mDNS
#   instance (avahi's backed-off queriers would not show what d published
#   during the partition for a long time). Then a link cut (h3's eth0 down,
#   up): same assertions for edits made on both sides while h3 was off the LAN.
set -u
NET_BUILD=$1
NET_SRC=$2
PART_S=${CS_PART_S:-15}
. "$(dirname "$0")/netlib.sh"
net_init agpart
GOAL_MS=${CS_PART_GOAL_MS:-}
if [ -z "$GOAL_MS" ]; then
	# the goal is 5 s; on a machine loaded beyond 4 runnable tasks per core
	# (parallel builds and tests on a shared CI box) every process here, the
	# agents (ASan build) and this script's own sqlite3 polls, runs that much
	# slower: the bound grows in proportion (at most 30 s), the figure is
	# printed either way
	GOAL_MS=5000
	load=$(cut -d' ' -f1 /proc/loadavg)
	GOAL_MS=$(awk -v l="$load" -v c="$(nproc)" 'BEGIN { f = l / (4 * c); if (f < 1) f = 1;
		if (f > 6) f = 6; printf "%d", 5000 * f }')
	[ "$GOAL_MS" -gt 5000 ] &&
		net_log "load average $load on $(nproc) cores: bound $GOAL_MS ms instead of the 5 s goal"
fi
net_log "namespaces ${NET_P}*, temp $NET_TMP"
for n in 1 2 3 4; do net_host $n; done
for n in a b c d; do ag_newdb $n; done
ag_q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
ag_cabinet a b c d
ag_start a 1
ag_start b 2
ag_start c 3
for n in a b c; do until_eq 20 "ag_sessions $n" 2; done
ag_converged 10 a b c
net_log "ok: three agents in session over mDNS"

# quick_same COL: the four databases hold as many rows and the same value in
# Dupont's COL (one sqlite3 process: polling stays cheap under load)
quick_same() {
	local q="SELECT 1" n
	for n in b c d; do
		q="$q AND (SELECT count(*) FROM main.patient) = (SELECT count(*) FROM $n.patient)
			AND (SELECT count(*) FROM main.consultation) = (SELECT count(*) FROM $n.consultation)
			AND (SELECT $1 FROM main.patient WHERE nom='Dupont') IS
				(SELECT $1 FROM $n.patient WHERE nom='Dupont')"
	done
	[ "$(sqlite3 -cmd ".timeout 2000" "$NET_TMP/a.db" "ATTACH '$NET_TMP/b.db' AS b;
		ATTACH '$NET_TMP/c.db' AS c; ATTACH '$NET_TMP/d.db' AS d; SELECT ($q);" 2>/dev/null)" = 1 ]
}

ins() { # NAME ROWNAME
	ag_q "$1" "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
		VALUES('$2','X','1980-01-01','F','2024-01-01')" || net_fail "insert on $1"
}

# round TAG COLUMN FAULT-ON FAULT-OFF SECONDS: edits on both sides of a fault
round() {
	local tag=$1 col=$2 on=$3 off=$4 secs=$5 i n T0 T1 w0 win
	$on
	T0=$(now_ms)
	sleep 1
	# the concurrent edit: the same cell on both sides
	ag_q a "UPDATE patient SET $col='a-$tag' WHERE nom='Dupont'"
	ag_q c "UPDATE patient SET $col='c-$tag' WHERE nom='Dupont'"
	for i in 1 2 3 4 5; do
		ins a "A$tag$i"
		ins b "B$tag$i"
		ins c "C$tag$i"
		sleep 0.3
	done
	# a and b still sync with each other; c gets nothing of theirs
	until_eq 10 "ag_q b \"SELECT $col FROM patient WHERE nom='Dupont'\"" "a-$tag"
	until_eq 10 "ag_q a \"SELECT count(*) FROM patient WHERE nom='B${tag}5'\"" 1
	[ "$(ag_q c "SELECT count(*) FROM patient WHERE nom LIKE 'A$tag%' OR nom LIKE 'B$tag%'")" = 0 ] ||
		net_fail "c got rows across the fault ($tag)"
	while [ $(($(now_ms) - T0)) -lt $((secs * 1000)) ]; do sleep 0.1; done
	w0=$(ag_q a "SELECT count(*) FROM cs_conflicts WHERE col='$col'")
	T1=$(now_ms) # before the heal command: under load it may take seconds itself
	$off
	# timed with one cheap probe (a single sqlite3 over the four files), then
	# the full canonical dumps must agree
	until_ok 60 quick_same "$col" || net_fail "not converged 60 s after the heal ($tag)"
	HEAL_MS=$(($(now_ms) - T1))
	until_ok 10 ag_same a b c d || net_fail "canonical dumps differ after the heal ($tag)"
	net_log "$tag: fault of ${secs}s, converged $HEAL_MS ms after the heal (goal <= $GOAL_MS ms)"
	for n in a b c d; do
		for i in 1 2 3 4 5; do
			[ "$(ag_q $n "SELECT count(*) FROM patient WHERE nom IN ('A$tag$i','B$tag$i','C$tag$i')")" = 3 ] ||
				net_fail "$n lost a row of round $tag"
		done
		until_eq 5 "ag_q $n \"SELECT count(*) > 0 FROM cs_conflicts WHERE col='$col'\"" 1
	done
	win=$(ag_q a "SELECT $col FROM patient WHERE nom='Dupont'")
	case "$win" in "a-$tag" | "c-$tag") ;; *) net_fail "winner '$win'" ;; esac
	for n in b c d; do
		[ "$(ag_q $n "SELECT $col FROM patient WHERE nom='Dupont'")" = "$win" ] ||
			net_fail "$n has another winner"
	done
	# the losing value is kept in the conflict record
	lose=a-$tag
	[ "$win" = "$lose" ] && lose=c-$tag
	for n in a b c; do
		[ "$(ag_q $n "SELECT count(*) FROM cs_conflicts WHERE col='$col' AND
			(lose_val='$lose' OR win_val='$lose')")" -ge 1 ] ||
			net_fail "$n: the losing value $lose is not in cs_conflicts"
	done
	[ "$HEAL_MS" -le "$GOAL_MS" ] ||
		net_fail "$tag: converged $HEAL_MS ms after the heal, goal $GOAL_MS ms"
}

part_on() {
	net_partition "1 2" "3 4"
	ag_start d 4 # published while a and b cannot hear it
}
part_off() { net_heal; }
round p telephone part_on part_off "$PART_S"
PART_HEAL=$HEAL_MS
for n in a b; do
	until_ok 20 grep -q "session with d .* up" "$NET_TMP/$n.log" ||
		net_fail "$n never met d, which started during the partition"
done
grep -q "is back after .* published again" "$NET_TMP/a.log" "$NET_TMP/b.log" "$NET_TMP/c.log" ||
	net_fail "nobody re-published after the heal"
net_log "ok: a and b met d (started during the partition) after the heal"
cut_on() { net_cut 3; }
cut_off() { net_uncut 3; }
round k email cut_on cut_off "$PART_S"
for n in a b c d; do
	[ "$(ag_q $n 'PRAGMA integrity_check')" = ok ] || net_fail "integrity_check on $n"
	ag_stop $n
	grep -q 'AddressSanitizer\|runtime error' "$NET_TMP/$n.log" && net_fail "sanitizer report in $n.log"
done
echo "partition ${PART_S}s healed in $PART_HEAL ms; link cut ${PART_S}s healed in $HEAL_MS ms"
echo ok
