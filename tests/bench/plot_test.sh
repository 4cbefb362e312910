#!/bin/sh
# tests/bench/plot_test.sh SRC: the report generation of `./run bench`
# (tests/bench/report.sh) on the canned data of tests/bench/fixture/: the
# summary of every goal with met/missed, the soak section's percentiles, the
# goal lines removed from the sections, the hand-written notes kept, and the
# plots (PNG files when gnuplot is installed, else a "Skipped" line).
set -eu
src=$1
fx=$src/tests/bench/fixture
rep=$src/tests/bench/report.sh
t=$(mktemp -d /tmp/cs-plot-test-XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# has FILE TEXT: FILE contains the line TEXT (fixed string, whole line)
has() {
	grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2"
}

# png FILE: a PNG image file
png() {
	[ -s "$1" ] || {
		fail "no $1"
		return 0
	}
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "$1 is not a PNG file"
}

cp -R "$fx" "$t/work"
sh "$rep" soak-section "$t/work/data/converge.dat" "$t/work/data/soak.txt" 0 3 9 \
	>"$t/work/sections/99-soak.md"
s=$t/work/sections/99-soak.md
# 6 heals: 0.5 0.8 1.2 2.5 3.1 s and one not converged (60.25 s)
has "$s" "| heals | 6 | |"
has "$s" "| heals not converged within the bound (counted at the bound below) | 1 | 0 |"
has "$s" "| time to converge after a heal, p50 | 1.200 s | |"
has "$s" "| time to converge after a heal, p99 | 60.250 s | <= 5 s |"
has "$s" "| time to converge after a heal, max | 60.250 s | |"
has "$s" "<!-- cs-goal | converged after a heal, p99 (soak) | 60.250 s | <= 5 s | missed -->"
has "$s" "<!-- cs-goal | heals not converged (soak) | 1 of 6 | 0 | missed -->"
has "$s" "result: PASS (replay: ./run soak 3 --seed 9)"

mkdir -p "$t/docs"
sh "$rep" doc "$t/work" "$t/docs/PERFORMANCE.md" "$t/docs/perf" "$t/work/notes.md"
d=$t/docs/PERFORMANCE.md
has "$d" "## Summary: every goal"
has "$d" "1 of 4 goals met in this run (each figure and its raw baseline are in the"
has "$d" "| latency | edit-to-peer p50, loopback | 6.10 ms | <= 10 ms | met |"
has "$d" "| latency | edit-to-peer p99, loopback | 61.2 ms | <= 50 ms | **missed** |"
has "$d" "| soak | converged after a heal, p99 (soak) | 60.250 s | <= 5 s | **missed** |"
has "$d" "| soak | heals not converged (soak) | 1 of 6 | 0 | **missed** |"
has "$d" "## Edit-to-peer latency: two cabsync agents over loopback"
has "$d" "| p99 | 0.300 ms | 61.20 ms | 204x | <= 50 ms | - |"
has "$d" "*Refers to the fixture run.* Hand-written text that must survive."
grep -q '^## Analysis (written by hand, [0-9-]*)$' "$d" || fail "no Analysis heading"
grep -q 'cs-goal' "$d" && fail "goal lines left in the document"
# order: header, summary, plots, sections, analysis
order=$(grep -n '^# Performance$\|^## Summary\|^## Plots\|^## Edit-to-peer\|^## Soak\|^## Analysis' "$d" |
	cut -d: -f1 | tr '\n' ' ')
[ "$(echo "$order" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "$order" ] &&
	[ "$(echo "$order" | wc -w)" -eq 6 ] || fail "sections out of order: $order"

if command -v gnuplot >/dev/null 2>&1; then
	has "$d" "![Edit-to-peer latency, cumulative distribution](perf/latency.png)"
	has "$d" "![Time to converge after each heal](perf/converge.png)"
	png "$t/docs/perf/latency.png"
	png "$t/docs/perf/converge.png"
else
	echo "plot_test: gnuplot not installed, checking the skipped path only" >&2
	grep -q '^Skipped: gnuplot is not installed' "$d" || fail "no 'gnuplot missing' line"
fi

# a run without a soak: the reason is given, no stale plot is left behind
rm -f "$t/work/data/converge.dat" "$t/work/sections/99-soak.md"
echo "the soak needs root (network namespaces, avahi-daemons)" >"$t/work/data/converge.skipped"
: >"$t/docs/perf/converge.png"
sh "$rep" doc "$t/work" "$d" "$t/docs/perf" "$t/work/notes.md"
has "$d" "Skipped: the soak needs root (network namespaces, avahi-daemons)."
has "$d" "1 of 2 goals met in this run (each figure and its raw baseline are in the"
[ -e "$t/docs/perf/converge.png" ] && fail "stale converge.png left"

# a soak without any heal: no plot, said so
grep '^#' "$fx/data/converge.dat" >"$t/work/data/converge.dat"
rm -f "$t/work/data/converge.skipped"
sh "$rep" doc "$t/work" "$d" "$t/docs/perf" "$t/work/notes.md"
has "$d" "Skipped: no heal happened in the soak of this run."

# PERF_DIR "-" (./run bench NAME): no plots section
sh "$rep" doc "$t/work" "$d" - /nonexistent
grep -q '^## Plots' "$d" && fail "plots with PERF_DIR -"
grep -q '^## Analysis' "$d" && fail "analysis without a notes file"
echo "CS_BENCH_SOAK=0 was set" >"$t/work/data/converge.skipped"
sh "$rep" doc "$t/work" "$d" - /nonexistent
has "$d" "Soak skipped: CS_BENCH_SOAK=0 was set."

if [ "$fails" -ne 0 ]; then
	echo "plot_test: $fails failure(s)" >&2
	exit 1
fi
echo "plot_test: ok"
