#!/bin/sh
# Run every benchmark (build/tests/bench_*) and a short soak, and rewrite
# docs/PERFORMANCE.md: a header (date, commit, load), the summary of every
# goal, the plots (docs/perf/*.png, gnuplot), each bench's Markdown section
# (each figure beside its raw baseline measured in the same run), then the
# hand-written analysis kept in docs/perf/notes.md (tests/bench/report.sh).
# usage: run-all.sh BUILD_DIR [NAME...]   (NAME: a bench, or `soak`)
# With NAMEs it prints the report of those only and leaves the docs alone.
# Environment: CS_BENCH_SCALE=K (smaller sizes, said in the header),
# CS_BENCH_SOAK_MINUTES (3), CS_BENCH_SOAK_SEED (9), CS_BENCH_SOAK=0 (no soak).
set -eu
build=$(cd "$1" && pwd)
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/docs/PERFORMANCE.md
work=$(mktemp -d /tmp/cs-bench-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sections" "$work/data"
CS_BENCH_DATA=$work/data
export CS_BENCH_DATA
soak_min=${CS_BENCH_SOAK_MINUTES:-3}
soak_seed=${CS_BENCH_SOAK_SEED:-9}

all=$(ls "$build"/tests/bench_* | sed 's|.*/bench_||')
if [ $# -gt 0 ]; then
	names=$*
else
	names="$all soak"
fi
load0=$(uptime | sed 's/.*load average: //')
# the sources the binaries were built from (./run bench builds just before)
rev=$(git -C "$top" describe --always --dirty 2>/dev/null || echo '?')
t_start=$(date +%s)
i=10
for n in $names; do
	echo "==> bench $n ($(date -u +%H:%M:%S), load $(uptime | sed 's/.*load average: //'))" >&2
	t0=$(date +%s)
	sec=$work/sections/$i-$n.md
	if [ "$n" = soak ]; then
		sec=$work/sections/99-soak.md
		if [ "${CS_BENCH_SOAK:-1}" = 0 ]; then
			echo "CS_BENCH_SOAK=0 was set" >"$work/data/converge.skipped"
		elif [ "$(id -u)" -ne 0 ]; then
			echo "the soak needs root (network namespaces, avahi-daemons); run \`./run bench\` as root" >"$work/data/converge.skipped"
		else
			rc=0
			python3 "$top/tests/soak/soak.py" --build "$build" --src "$top" "$soak_min" \
				--seed "$soak_seed" --conv-data "$work/data/converge.dat" \
				>"$work/soak.txt" 2>"$work/soak.log" || rc=$?
			if [ "$rc" -eq 77 ]; then
				echo "$(grep -h 'SKIPPED' "$work/soak.txt" | head -n 1 | sed 's/^SKIPPED: //')" \
					>"$work/data/converge.skipped"
				rm -f "$work/data/converge.dat"
			elif [ ! -f "$work/data/converge.dat" ]; then
				tail -n 20 "$work/soak.log" >&2
				echo "the soak failed before its report (exit $rc)" >"$work/data/converge.skipped"
			else
				sh "$top/tests/bench/report.sh" soak-section "$work/data/converge.dat" \
					"$work/soak.txt" "$rc" "$soak_min" "$soak_seed" >"$sec"
			fi
		fi
	else
		rc=0
		"$build/tests/bench_$n" >"$sec" || rc=$?
		if [ "$rc" -ne 0 ]; then
			# keep the run: the section says it failed, the summary lists it
			printf '\n## bench_%s FAILED (exit %d)\n\nSee its stderr in the output of `./run bench`.\n' \
				"$n" "$rc" >>"$sec"
			printf '<!-- cs-goal | bench_%s ran to the end | exit %d | exit 0 | missed -->\n' \
				"$n" "$rc" >>"$sec"
		fi
	fi
	echo "$n $(($(date +%s) - t0))" >>"$work/times"
	i=$((i + 1))
done
t_total=$(($(date +%s) - t_start))
load1=$(uptime | sed 's/.*load average: //')

{
	echo "# Performance"
	echo
	echo "Produced by \`./run bench\` (tests/bench/run-all.sh) on $(date -u '+%Y-%m-%d %H:%M') UTC,"
	echo "commit $rev, $(nproc) cores ($(uname -m)),"
	echo "release build (RelWithDebInfo, clang), in $((t_total / 60)) min $((t_total % 60)) s."
	echo "Load average (1, 5, 15 min) at the start: $load0; at the end: $load1. The machine is"
	echo "shared: absolute figures move with the load (../shared/baselines.md); every ratio"
	echo "compares against a raw baseline measured in the same run: read the ratios."
	if [ -n "${CS_BENCH_SCALE:-}" ] && [ "${CS_BENCH_SCALE}" != 1 ]; then
		echo
		echo "**Sizes divided by $CS_BENCH_SCALE** (\`CS_BENCH_SCALE=$CS_BENCH_SCALE\`: capture, apply,"
		echo "extract) to fit the time; the other benches ran at full size."
	fi
	echo
	printf 'Time per bench:'
	sep=' '
	while read -r n s; do
		printf '%s%s %d s' "$sep" "$n" "$s"
		sep=', '
	done <"$work/times"
	echo "."
	echo
	echo "Re-run: \`./run bench\` (everything, as root for the namespace benches and the soak;"
	echo "rewrites this file and docs/perf/*.png, keeps docs/perf/notes.md) or \`./run bench NAME...\`"
	echo "(prints those only: $(echo $all) soak)."
} >"$work/header.md"

if [ $# -gt 0 ]; then
	# some benches only: print their report, keep the full one as it is
	sh "$top/tests/bench/report.sh" doc "$work" "$work/report.md" - /nonexistent
	cat "$work/report.md"
else
	sh "$top/tests/bench/report.sh" doc "$work" "$out" "$top/docs/perf" "$top/docs/perf/notes.md"
	echo "wrote $out" >&2
fi
