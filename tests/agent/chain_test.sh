#!/bin/sh
# tests/agent/chain_test.sh BUILD_DIR SRC_DIR: three agents in a chain
# A - B - C (A and C never connect): a change made on A reaches C through B
# (transitive forwarding) and one made on C reaches A; steady edits on the
# three at once converge to identical databases with nothing lost.
. "$(dirname "$0")/lib.sh"

for n in a b c; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
for n in b c; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Martin --device-name $n --same-cabinet-as "$tmp/h_a" \
		>/dev/null 2>&1 || fail "init $n"
done
# a's roster learns c only through c's init: copy the full roster everywhere
cp "$tmp/h_c/roster.ini" "$tmp/h_a/roster.ini"
cp "$tmp/h_c/roster.ini" "$tmp/h_b/roster.ini"
start b
start a --peer "127.0.0.1:$(port b)"
start c --peer "127.0.0.1:$(port b)"

q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Depuis','A','1980-01-01','M','2024-01-01')"
until_eq 10 'q c "SELECT nom FROM patient"' Depuis
q c "UPDATE patient SET ville='Brest'"
until_eq 10 'q a "SELECT ville FROM patient"' Brest

# steady edits on the three at once
for k in 1 2 3 4 5 6 7 8 9 10; do
	for n in a b c; do
		q $n "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
		     VALUES('P$n$k','X','1980-01-01','F','2024-01-01')"
	done
	q a "UPDATE patient SET telephone='a$k' WHERE nom='Depuis'"
done
until_eq 20 'q a "SELECT count(*) FROM patient"' 31
until_eq 20 'q c "SELECT count(*) FROM patient"' 31
until_eq 20 'canon b' "$(canon a)"
until_eq 20 'canon c' "$(canon a)"
[ "$(q c "SELECT telephone FROM patient WHERE nom='Depuis'")" = a10 ] || fail "last edit lost"
# a and c never had a session
grep -q "session with c" "$tmp/a.log" && fail "a and c connected directly"
echo ok
