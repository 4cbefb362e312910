#!/bin/sh
# Run every benchmark (build/tests/bench_*) and rewrite docs/PERFORMANCE.md
# with their Markdown sections, each figure beside its raw baseline measured
# in the same run. usage: run-all.sh BUILD_DIR [NAME...]
set -eu
build=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/docs/PERFORMANCE.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
	echo "# Performance"
	echo
	echo "Produced by \`./run bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -m)),"
	echo "release build (RelWithDebInfo, clang). Every ratio compares against a raw baseline"
	echo "measured in the same run; absolute figures vary with the machine's load"
	echo "(see ../shared/baselines.md). Re-run: \`./run bench\` (all) or"
	echo "\`./run bench NAME\` (one: $(ls "$build"/tests/bench_* 2>/dev/null | sed 's|.*/bench_||' | tr '\n' ' '))."
	echo
} >"$tmp"
if [ $# -gt 0 ]; then
	names=$*
else
	names=$(ls "$build"/tests/bench_* | sed 's|.*/bench_||')
fi
for n in $names; do
	echo "==> bench $n" >&2
	"$build/tests/bench_$n" >>"$tmp"
	echo >>"$tmp"
done
if [ $# -gt 0 ] && [ -f "$out" ]; then
	# one benchmark: print it, keep the full report as it is
	cat "$tmp"
else
	cp "$tmp" "$out"
	echo "wrote $out" >&2
fi
