#!/bin/sh
# tests/agent/status_test.sh BUILD_DIR SRC_DIR: `cabsync status` (PROTOCOL.md
# §8): valid JSON whatever the device names hold (quotes, backslashes, bytes
# that are not UTF-8; control bytes are refused by init and by the roster
# rules); pending changes per peer while it is offline, also after a restart;
# the open conflicts count; the progress of a long sync in the status and the log.
. "$(dirname "$0")/lib.sh"
export CS_KEYRING=off CS_NO_MDNS=1
newdb a
newdb b
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name 'desk "A" \ 1' >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--same-cabinet-as "$tmp/h_a" --device-name "$(printf 'la"p\377x\\y')" >/dev/null 2>&1 ||
	fail "init b"
cp "$tmp/h_b/roster.ini" "$tmp/h_a/roster.ini"
# json FILE EXPR: evaluate a Python expression on the parsed answer j
json() {
	python3 -c 'import json,sys; j = json.load(open(sys.argv[1], encoding="utf-8")); print(eval(sys.argv[2]))' "$@"
}
start a
aport=$(port a)
start b --peer "127.0.0.1:$aport"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le) VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
until_eq 20 'q b "SELECT count(*) FROM patient"' 1
status a >"$tmp/s1.json"
[ "$(json "$tmp/s1.json" 'j["name"]')" = 'desk "A" \ 1' ] || fail "own name: $(cat "$tmp/s1.json")"
[ "$(json "$tmp/s1.json" 'j["peers"][0]["name"] == "la\"p\ufffdx\\y"')" = True ] ||
	fail "peer name: $(json "$tmp/s1.json" 'ascii(j["peers"][0]["name"])')"
grep -q '"la\\"p' "$tmp/s1.json" || fail "quote not escaped"
[ "$(json "$tmp/s1.json" 'j["conflicts"]')" = 0 ] || fail "conflicts"
until_eq 10 'status a | python3 -c "import json,sys; print(json.load(sys.stdin)[\"peers\"][0][\"pending\"])"' 0
# the human form shows the names unescaped
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" status >"$tmp/human.txt" || fail "status exit"
grep -q 'device: desk "A" \\ 1' "$tmp/human.txt" || fail "human: $(cat "$tmp/human.txt")"

# b offline: a's changes wait, counted, also across a restart of a
stop b
for k in 1 2 3; do q a "UPDATE patient SET ville='V$k'"; done
until_eq 10 'status a | python3 -c "import json,sys; print(json.load(sys.stdin)[\"peers\"][0][\"pending\"])"' 3
stop a
start a --port "$aport"
until_eq 10 'status a | python3 -c "import json,sys; print(json.load(sys.stdin)[\"peers\"][0][\"pending\"])"' 3

# a concurrent edit (b edited while offline): one open conflict on a
q b "UPDATE patient SET ville='Lyon'"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
     SELECT 'N' || i, 'P', '1990-01-01', 'F', '2024-01-01' FROM n"
start b --peer "127.0.0.1:$aport"
until_eq 60 'q b "SELECT count(*) FROM patient"' 1501
until_eq 10 'status a | python3 -c "import json,sys; print(json.load(sys.stdin)[\"conflicts\"])"' 1
# the long sync's progress: logged by the sender, and in its status
grep -q 'sync to lap .*: 150[0-9] rows to send' "$tmp/a.log" || grep -q 'rows to send' "$tmp/a.log" ||
	fail "no progress start line"
grep -q 'rows sent (100 %)' "$tmp/a.log" || fail "no progress end line"
status a >"$tmp/s2.json"
[ "$(json "$tmp/s2.json" 'j["peers"][0]["sending"]["done"] == j["peers"][0]["sending"]["total"] >= 1500')" = True ] ||
	fail "sending progress: $(cat "$tmp/s2.json")"
echo ok
