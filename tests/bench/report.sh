#!/bin/sh
# tests/bench/report.sh: assembles docs/PERFORMANCE.md from what run-all.sh
# collected; kept apart so that tests/bench/plot_test.sh checks it on canned
# data (docs/TESTING.md "Benchmarks").
#
#   report.sh doc WORK OUT.md PERF_DIR NOTES.md
#     WORK/header.md         the header (run-all.sh: date, commit, load, sizes)
#     WORK/sections/*.md     each bench's stdout, in order, with its
#                            `<!-- cs-goal | figure | measured | goal | met|missed -->`
#                            lines (tests/bench/bench_goal.h)
#     WORK/times             "NAME SECONDS" per bench run
#     WORK/data/latency.dat  bench_latency's samples (CS_BENCH_DATA)
#     WORK/data/converge.dat the soak's time to converge after each heal
#     WORK/data/converge.skipped  why there is no soak in this run
#   writes OUT.md: header, summary of every goal, plots (PNGs into PERF_DIR,
#   embedded by the relative path PERF_DIR's name/NAME.png; PERF_DIR "-": no
#   plots), the sections
#   without their goal lines, then NOTES.md verbatim under "Analysis (written
#   by hand, DATE)".
#
#   report.sh soak-section CONVERGE.dat SOAK_REPORT.txt SOAK_RC MINUTES SEED
#     prints the Markdown section of the short soak (with its goal line).
set -eu

# goal lines of all sections -> summary table rows
summary() {
	work=$1
	n=0
	met=0
	rows=$(mktemp)
	for s in "$work"/sections/*.md; do
		[ -f "$s" ] || continue
		b=$(basename "$s" .md | sed 's/^[0-9]*-//')
		grep '^<!-- cs-goal |' "$s" | sed 's/^<!-- cs-goal | //; s/ -->$//' |
			awk -F ' [|] ' -v b="$b" '{
				r = $4 == "met" ? "met" : "**missed**"
				printf "| %s | %s | %s | %s | %s |\n", b, $1, $2, $3, r
			}' >>"$rows"
	done
	n=$(wc -l <"$rows")
	met=$(grep -c ' | met |$' "$rows" || true)
	echo "## Summary: every goal"
	echo
	if [ "$n" -eq 0 ]; then
		echo "No benchmark of this run reported a goal."
	else
		echo "$met of $n goals met in this run (each figure and its raw baseline are in the"
		echo "bench's section below)."
		echo
		echo "| bench | figure | measured | goal | result |"
		echo "|---|---|---|---|---|"
		cat "$rows"
	fi
	echo
	rm -f "$rows"
}

have_gnuplot() {
	command -v gnuplot >/dev/null 2>&1
}

# plot_latency DAT PNG [LAN.dat]: cumulative distribution, cabsync and raw,
# goals; with LAN.dat (bench_lan's samples) a second cabsync curve
plot_latency() {
	n=$(grep -vc '^#' "$1" || true)
	lan=""
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		lan=", \"$3\" using 2:1 with lines lw 2 dt 4 lc rgb \"#8e44ad\" title \"cabsync A → B over the namespace bridge (mDNS)\""
	fi
	gnuplot <<GP
set terminal pngcairo size 900,520 font ",10"
set output "$2"
set title "Edit-to-peer latency: $n single-row edits, two agents"
set logscale x 10
set xrange [0.01:2000]
set yrange [0:1]
set xlabel "time from the commit on A until visible on B (ms, log scale)"
set ylabel "fraction of edits"
set grid
set key bottom right
set arrow from 10, graph 0 to 10, graph 1 nohead dt 2 lc rgb "#2a7d2a"
set arrow from 50, graph 0 to 50, graph 1 nohead dt 2 lc rgb "#c07000"
set arrow from 1204, graph 0 to 1204, graph 1 nohead dt 3 lc rgb "#b00000"
set label "goal p50 10 ms" at 10, 0.52 left offset 0.5,0 tc rgb "#2a7d2a"
set label "goal p99 50 ms" at 50, 0.95 left offset 0.5,0 tc rgb "#c07000"
set label "Syncthing 1204 ms" at 1204, 0.60 right offset -0.5,0 tc rgb "#b00000"
plot "$1" using 2:1 with lines lw 2 lc rgb "#1f4e9c" title "cabsync A → B over loopback", \
     "$1" using 3:1 with lines lw 1 lc rgb "#777777" title "raw SQLite: same file, commit → visible"$lan
GP
}

# plot_converge DAT PNG: seconds to converge after each heal, goal 5 s
plot_converge() {
	t=$(mktemp)
	# the kind of fault only, for the x labels (tests/soak/soak.py fault())
	awk '!/^#/ && NF >= 2 {
		k = $3
		if (k ~ /^partition/) k = "partition"
		else if (k ~ /loss/) k = "30%-loss"
		else if (k ~ /^link/) k = "link-cut"
		else if (k ~ /^SIGKILL/) k = "SIGKILL"
		else if (k ~ /^avahi/) k = "avahi-restart"
		else if (k ~ /^disk/) k = "disk-full"
		else if (k ~ /switched_off/) k = "PC-off"
		else sub(/_.*/, "", k)
		print $1, $2, k, ($4 == "not_converged") ? 0 : 1
	}' "$1" >"$t"
	n=$(wc -l <"$t")
	ymax=$(awk 'BEGIN { m = 6 } { if ($2 * 1.15 > m) m = $2 * 1.15 } END { print m }' "$t")
	gnuplot <<GP
set terminal pngcairo size 900,520 font ",10"
set output "$2"
set title "Time to converge after each heal: $n heals (soak, five agents, namespace LAN)"
set xlabel "heal (kind of fault)"
set ylabel "seconds until every pair agrees"
set grid ytics
set key top left
set yrange [0:$ymax]
set xrange [0.5:$n + 0.5]
set xtics rotate by -40 font ",8"
set style fill solid 0.7
set boxwidth 0.6
plot "$t" using 1:(\$4 == 1 ? \$2 : 1/0):xtic(3) with boxes lc rgb "#1f4e9c" title "converged", \
     "$t" using 1:(\$4 == 0 ? \$2 : 1/0) with boxes lc rgb "#c02020" title "NOT converged: gave up after the bound", \
     5 with lines dt 2 lw 2 lc rgb "#2a7d2a" title "goal: converged within 5 s (issue 5)"
GP
	rm -f "$t"
}

# plots WORK PERF_DIR REL: the plots section
plots() {
	work=$1
	dir=$2
	rel=$3
	echo "## Plots"
	echo
	mkdir -p "$dir"
	echo "### Edit-to-peer latency distribution"
	echo
	if [ ! -s "$work/data/latency.dat" ]; then
		rm -f "$dir/latency.png"
		echo "Skipped: the latency bench did not run in this run (\`./run bench\` runs it)."
	elif ! have_gnuplot; then
		rm -f "$dir/latency.png"
		echo "Skipped: gnuplot is not installed (\`apt-get install gnuplot-nox\`)."
	elif ! plot_latency "$work/data/latency.dat" "$dir/latency.png" "$work/data/latency_lan.dat" >&2; then
		rm -f "$dir/latency.png"
		echo "Skipped: gnuplot failed on the samples (its message is in the output of \`./run bench\`)."
	else
		echo "![Edit-to-peer latency, cumulative distribution]($rel/latency.png)"
		echo
		echo "Every edit of bench_latency (and of bench_lan when it ran, dashed; sections below):"
		echo "the fraction of edits visible on B"
		echo "within the time on the x axis, beside the raw baseline (the same edit and poll"
		echo "on one file) and Syncthing's 1.2 s (../shared/baselines.md)."
	fi
	echo
	echo "### Convergence after a heal"
	echo
	heals=0
	[ ! -s "$work/data/converge.dat" ] || heals=$(grep -vc '^#' "$work/data/converge.dat" || true)
	if [ "$heals" -gt 0 ] && have_gnuplot &&
		plot_converge "$work/data/converge.dat" "$dir/converge.png" >&2; then
		echo "![Time to converge after each heal]($rel/converge.png)"
		echo
		echo "Every heal of the short soak (section \"Soak\" below): from the heal (workload"
		echo "paused) until every pair of running devices holds identical rows; red: not"
		echo "converged within the soak's bound (\`--bound\`, 60 s), the soak then went on."
	else
		rm -f "$dir/converge.png"
		if [ -s "$work/data/converge.skipped" ]; then
			echo "Skipped: $(cat "$work/data/converge.skipped")."
		elif [ -s "$work/data/converge.dat" ] && [ "$heals" -eq 0 ]; then
			echo "Skipped: no heal happened in the soak of this run."
		elif [ -s "$work/data/converge.dat" ] && ! have_gnuplot; then
			echo "Skipped: gnuplot is not installed (\`apt-get install gnuplot-nox\`)."
		elif [ -s "$work/data/converge.dat" ]; then
			echo "Skipped: gnuplot failed on the data (its message is in the output of \`./run bench\`)."
		else
			echo "Skipped: no soak ran in this run (\`./run bench\` runs a short one as root)."
		fi
	fi
	echo
}

# notes_date NOTES: the day the notes were last committed, else changed
notes_date() {
	d=$(cd "$(dirname "$1")" && git log -1 --format=%cd --date=short -- "$(basename "$1")" 2>/dev/null || true)
	[ -n "$d" ] || d=$(date -u -r "$1" +%Y-%m-%d)
	echo "$d"
}

doc() {
	work=$1
	out=$2
	dir=$3
	notes=$4
	rel=$(basename "$dir")
	{
		cat "$work/header.md"
		echo
		summary "$work"
		if [ "$dir" != - ]; then
			plots "$work" "$dir" "$rel"
		elif [ -s "$work/data/converge.skipped" ]; then
			echo "Soak skipped: $(cat "$work/data/converge.skipped")."
			echo
		fi
		for s in "$work"/sections/*.md; do
			[ -f "$s" ] || continue
			grep -v '^<!-- cs-goal |' "$s"
			echo
		done
		if [ -f "$notes" ]; then
			echo "## Analysis (written by hand, $(notes_date "$notes"))"
			echo
			echo "Kept in \`docs/perf/notes.md\` and copied here by every run; the figures it"
			echo "quotes are those of the runs it names, not necessarily of the run above."
			echo
			cat "$notes"
		fi
	} >"$out"
}

# soak_section DAT REPORT RC MINUTES SEED
soak_section() {
	echo "## Soak: five agents on the namespace LAN, faults, convergence after each heal"
	echo
	st=$(awk '!/^#/ && NF >= 2 { print $2 }' "$1" | sort -n)
	n=$(printf '%s\n' "$st" | grep -c . || true)
	nf=$(awk '!/^#/ && $4 == "not_converged"' "$1" | wc -l)
	if [ "$n" -gt 0 ]; then
		p50=$(printf '%s\n' "$st" | awk -v n="$n" 'NR == int((n - 1) / 2) + 1')
		p99=$(printf '%s\n' "$st" | awk -v n="$n" 'NR == int(0.99 * (n - 1) + 0.5) + 1')
		max=$(printf '%s\n' "$st" | tail -n 1)
		echo "| figure | cabsync | goal |"
		echo "|---|---|---|"
		echo "| heals | $n | |"
		echo "| heals not converged within the bound (counted at the bound below) | $nf | 0 |"
		echo "| time to converge after a heal, p50 | $p50 s | |"
		echo "| time to converge after a heal, p99 | $p99 s | <= 5 s |"
		echo "| time to converge after a heal, max | $max s | |"
		awk -v v="$p99" 'BEGIN { printf "<!-- cs-goal | converged after a heal, p99 (soak) | %s s | <= 5 s | %s -->\n", v, (v + 0 <= 5) ? "met" : "missed" }'
		echo "<!-- cs-goal | heals not converged (soak) | $nf of $n | 0 | $([ "$nf" -eq 0 ] && echo met || echo missed) -->"
	else
		echo "No heal happened in this soak run (no convergence figure)."
	fi
	echo
	echo "Measured: \`tests/soak/soak.py $4 --seed $5\` (\`./run soak $4 --seed $5\`), five agents in"
	echo "network namespaces with their own avahi-daemons, the practice workload and seeded faults"
	echo "(docs/TESTING.md \"Soak\"); after each heal the workload pauses and the soak polls every"
	echo "0.25 s until every pair of running devices holds identical rows. Exit status $3"
	echo "(0: every invariant held). Its report:"
	echo
	echo '```'
	cat "$2"
	echo '```'
}

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
doc) doc "$@" ;;
soak-section) soak_section "$@" ;;
*)
	echo "usage: report.sh doc WORK OUT.md PERF_DIR NOTES.md | soak-section DAT REPORT RC MIN SEED" >&2
	exit 2
	;;
esac
