#!/bin/sh
# STYLE.md §2: dependencies point one way (agent -> discovery, wire, sql ->
# base); wire/ and sql/ never include each other nor uv.h; wire/ does no I/O;
# SQL text lives only in sql/. Exits non-zero and names each violation.
set -u
top=${1:-.}
cd "$top" || exit 2
bad=0
fail() {
	echo "layers: $*" >&2
	bad=1
}
for f in base/*.[ch]; do
	[ -e "$f" ] || continue
	if grep -nE '#include *"(sql|wire|discovery|agent)/' "$f"; then fail "$f: base/ includes an upper layer"; fi
done
for f in wire/*.[ch]; do
	[ -e "$f" ] || continue
	if grep -nE '#include *[<"](sql/|discovery/|agent/|uv\.h|sqlite3\.h|curl/|sys/socket\.h|stdio\.h)' "$f"; then
		fail "$f: wire/ must not include sql/, discovery/, agent/, uv.h, sqlite3.h, curl or do I/O"
	fi
	if grep -nE '\b(time|clock_gettime|gettimeofday|fopen|open|read|write|send|recv|printf|fprintf)\(' "$f" | grep -v '^\s*\*' | grep -vE '(/\*|//)'; then
		fail "$f: wire/ reads the clock or does I/O"
	fi
done
for f in sql/*.[ch]; do
	[ -e "$f" ] || continue
	if grep -nE '#include *[<"](wire/|discovery/|agent/|uv\.h|curl/)' "$f"; then fail "$f: sql/ includes wire/, discovery/, agent/ or libuv"; fi
done
for f in discovery/*.[ch]; do
	[ -e "$f" ] || continue
	if grep -nE '#include *[<"](sql/|wire/|agent/|sqlite3\.h)' "$f"; then fail "$f: discovery/ knows about SQLite or the wire"; fi
done
# SQL text only in sql/: a string literal starting with an SQL verb elsewhere.
for f in agent/*.c agent/*/*.c wire/*.c discovery/*.c base/*.c; do
	[ -e "$f" ] || continue
	if grep -nE '"[[:space:]]*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|ALTER|BEGIN|COMMIT)[[:space:]]' "$f"; then
		fail "$f: SQL text outside sql/"
	fi
done
[ "$bad" -eq 0 ] && echo "layers: ok"
exit "$bad"
