#!/bin/bash
# tests/lan/agents_sync.sh BUILD_DIR SRC_DIR (ctest lan_agents_sync; root,
# exit 77 = skipped): three real `cabsync agent`s on a simulated cabinet LAN
# (tests/lan/netlib.sh), with NO static peer: they find each other through
# their avahi-daemons and sync.
#   1. discovery: every pair gets a session, the seeded row reaches all;
#   2. steady edits on the three devices at once (sqlite3 shell, as the app):
#      identical canonical dumps, nothing lost (every row and last value);
#   3. 30 % packet loss on the bridge: edits on the three, converged under loss;
#   4. h2's avahi-daemon restarted: h2's agent says so, re-publishes and
#      re-browses: h1 and h3 restarted with new ports and no address cache
#      can only meet h2 again through mDNS; edits after that converge.
set -u
NET_BUILD=$1
NET_SRC=$2
. "$(dirname "$0")/netlib.sh"
net_init agsync
net_log "namespaces ${NET_P}*, temp $NET_TMP"
for n in 1 2 3; do net_host $n; done
for n in a b c; do ag_newdb $n; done
ag_q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
ag_cabinet a b c
grep -q '^peer' "$NET_TMP/h_a/cabsync.ini" && net_fail "a home has a static peer"
ag_start a 1
ag_start b 2
ag_start c 3

# 1. discovery only
T0=$(now_ms)
for n in a b c; do until_eq 20 "ag_sessions $n" 2; done
for n in b c; do until_eq 10 "ag_q $n 'SELECT nom FROM patient'" Dupont; done
net_log "ok: discovered over mDNS, all pairs in session after $(($(now_ms) - T0)) ms"

# steady edits: K inserts and K updates of one shared cell per device, all at once
edits() { # NAME K TAG: one sqlite3 shell fed statement by statement (autocommit)
	local i
	{
		echo ".timeout 5000"
		echo ".bail on"
		for i in $(seq "$2"); do
			echo "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
				VALUES('P$3$1$i','X','1980-01-01','F','2024-01-01');"
			echo "UPDATE patient SET telephone='$1$i' WHERE nom='Dupont';"
			echo "UPDATE patient SET ville='$3$1$i' WHERE nom='P$3$1$i';"
			sleep 0.02
		done
	} | sqlite3 "$NET_TMP/$1.db"
}
steady() { # K TAG
	local n p=() ok=0
	for n in a b c; do
		edits $n "$1" "$2" &
		p+=($!)
	done
	for n in "${p[@]}"; do wait "$n" || ok=1; done
	return $ok
}
# lost() TAG K: every row of TAG on every device, with its last value
check_all() {
	local tag=$1 k=$2 n w
	for n in a b c; do
		for w in a b c; do
			[ "$(ag_q $n "SELECT count(*) FROM patient WHERE nom LIKE 'P$tag$w%'")" = "$k" ] ||
				net_fail "$n lacks rows of $w ($tag)"
			[ "$(ag_q $n "SELECT ville FROM patient WHERE nom='P$tag$w$k'")" = "$tag$w$k" ] ||
				net_fail "$n lacks the last edit of $w ($tag)"
		done
	done
}

# 2. steady edits on three devices at once
T0=$(now_ms)
steady 30 s || net_fail "the sqlite3 writers failed (busy?)"
T1=$(now_ms)
ag_converged 20 a b c
net_log "ok: 3 x 90 edits in $((T1 - T0)) ms, converged $(($(now_ms) - T1)) ms after the last"
check_all s 30
tel=$(ag_q a "SELECT telephone FROM patient WHERE nom='Dupont'")
case "$tel" in a30 | b30 | c30) ;; *) net_fail "Dupont's telephone is '$tel', not a last edit" ;; esac

# 3. 30 % loss on every frame the bridge forwards
net_loss 30
T0=$(now_ms)
steady 10 l || net_fail "writers under loss"
T1=$(now_ms)
ag_converged 90 a b c
net_log "ok: 30 % loss: converged $(($(now_ms) - T1)) ms after the last edit"
check_all l 10
net_loss 0

# 4. avahi-daemon restart on h2
pub0=$(grep -c 'mDNS: published' "$NET_TMP/b.log")
net_avahi_restart 2
until_ok 10 grep -q 'avahi-daemon went away' "$NET_TMP/b.log" ||
	net_fail "b did not notice the daemon restart"
republished() { [ "$(grep -c 'mDNS: published' "$NET_TMP/b.log")" -gt "$pub0" ]; }
until_ok 15 republished || net_fail "b did not publish again"
# a and c forget every address and come back on new ports: they and b can
# only meet again through mDNS (b's new entry group, b's new browser)
for n in a c; do
	ag_stop $n
	rm -f "$NET_TMP/h_$n/addrcache"
done
ag_start a 1
ag_start c 3
T0=$(now_ms)
for n in a b c; do until_eq 20 "ag_sessions $n" 2; done
net_log "ok: after b's avahi restart, all in session again $(($(now_ms) - T0)) ms after the restarts"
steady 5 r || net_fail "writers after the restart"
ag_converged 20 a b c
check_all r 5
for n in a b c; do
	[ "$(ag_q $n 'PRAGMA integrity_check')" = ok ] || net_fail "integrity_check on $n"
	[ "$(ag_q $n 'SELECT count(*) FROM cs_conflicts')" -ge 0 ] || net_fail "cs_conflicts on $n"
done
for n in a b c; do
	ag_stop $n
	grep -q 'ERROR\|AddressSanitizer\|runtime error' "$NET_TMP/$n.log" &&
		net_fail "an error in $n's log: $(grep -m1 'ERROR\|AddressSanitizer\|runtime error' "$NET_TMP/$n.log")"
done
echo ok
