#!/bin/sh
# tests/agent/mixed_test.sh BUILD_DIR SRC_DIR: PCs upgraded one at a time
# (docs/PROTOCOL.md §5). Four devices of one cabinet on loopback:
#   a  this build;
#   b  this build, but its app has one more column (patient.mutuelle): another
#      app schema hash in HELLO;
#   c  a "newer build" (CS_TEST_PROTOCOL=2:1: speaks 1..2, appends a field
#      to its HELLO that the others skip);
#   d  a build that only speaks protocol 2 (CS_TEST_PROTOCOL=2:2).
# a, b, c sync everything both sides understand, both ways and through each
# other: no batch refused, one cabinet. d has no common version with anyone:
# refused with BYE "version too new/old", logged once per peer, and nothing
# of it is mixed in. Then a's app schema "changes" (its kept hash differs):
# a asks every peer for everything again.
. "$(dirname "$0")/lib.sh"
export CS_KEYRING=off CS_NO_MDNS=1
for n in a b c d; do newdb $n; done
sqlite3 "$tmp/b.db" "ALTER TABLE patient ADD COLUMN mutuelle TEXT"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
for n in b c d; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Martin --same-cabinet-as "$tmp/h_a" --device-name $n \
		>/dev/null 2>&1 || fail "init $n"
done
for n in b c d; do cp "$tmp/h_a/roster.ini" "$tmp/h_$n/roster.ini"; done # a knows all
start a
start b --peer "127.0.0.1:$(port a)"
CS_TEST_PROTOCOL=2:1 start c --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
CS_TEST_PROTOCOL=2:2 start d --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"

# b's row, with a column only b has, reaches a and c without the column
q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,mutuelle)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01','j@example.org')"
until_eq 20 'q a "SELECT nom FROM patient"' Dupont
until_eq 20 'q c "SELECT nom FROM patient"' Dupont
grep -q '"b" .* runs another app schema\|b (.*) runs another app schema' "$tmp/a.log" ||
	fail "a did not notice b's schema"
grep -q 'a (.*) runs another app schema' "$tmp/b.log" || fail "b did not notice a's schema"
# a's and c's edits reach b (and the extra column stays)
q a "UPDATE patient SET ville='Nantes'"
until_eq 20 'q b "SELECT ville || \",\" || mutuelle FROM patient"' "Nantes,j@example.org"
q c "UPDATE patient SET telephone='0102030405'"
until_eq 20 'q b "SELECT telephone FROM patient"' 0102030405
until_eq 20 'q a "SELECT telephone FROM patient"' 0102030405
grep -q 'protocol 1)' "$tmp/c.log" || fail "c did not speak protocol 1 with the others"
for n in a b c; do
	grep -q 'apply failed\|refused' "$tmp/$n.log" && fail "$n refused a batch"
done
[ "$(canon a)" = "$(canon c)" ] || fail "a and c differ"

# d: no common version with a or b; said once per peer however often it
# redials (c is only a pretend newer build: its decoder is version 1's, so
# d does not dial it)
sleep 3
[ "$(grep -c 'speaks only protocol 2..2' "$tmp/a.log")" = 1 ] ||
	fail "a: want one line about d, got $(grep -c 'speaks only protocol 2..2' "$tmp/a.log")"
[ "$(grep -c 'a (.*) speaks protocol 1..1' "$tmp/d.log")" = 1 ] || fail "d: not said once about a"
[ "$(grep -c 'b (.*) speaks protocol 1..1' "$tmp/d.log")" = 1 ] || fail "d: not said once about b"
[ "$(grep -c 'speaks only protocol 2..2' "$tmp/b.log")" = 1 ] || fail "b: not said once about d"
[ "$(q d "SELECT count(*) FROM patient")" = 0 ] || fail "d got data without a session"
status a | grep -q '"name":"d","online":false' || fail "d shown online on a"

# a's app schema changed since its last start: it asks for everything again
q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le) VALUES('Martin','Anne','1990-02-02','F','2024-01-01')"
until_eq 20 'q a "SELECT count(*) FROM patient"' 2
aport=$(port a)
stop a
echo 0000000000000000000000000000000000000000000000000000000000000000 >"$tmp/h_a/appschema"
start a --port "$aport"
until_eq 10 'grep -c "the app schema changed since the last start" "$tmp/a.log"' 1
# b sends its two rows again (it sent them before: only a full resync does)
i=0
while :; do
	rin=$(status a | sed -n 's/.*"name":"b",[^}]*"rows_in":\([0-9]*\),.*/\1/p')
	[ "${rin:-0}" -ge 2 ] && break
	i=$((i + 1))
	[ $i -le 40 ] || fail "a received ${rin:-nothing} rows from b after the reset: $(status a)"
	sleep 0.5
done
[ "$(canon a)" = "$(canon c)" ] || fail "a and c differ after the resync"
echo ok
