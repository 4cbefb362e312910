#!/bin/sh
# Run one libFuzzer target briefly: replay every saved regression input, then
# fuzz for SECONDS from the seed corpus (in a scratch copy). A crash fails the
# test; the crashing input is kept in the build dir to be added to regress/.
# usage: run-fuzz.sh BINARY FUZZDIR NAME SECONDS
set -eu
bin=$1 dir=$2 name=$3 secs=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -d "$dir/corpus/$name" ]; then
	cp -r "$dir/corpus/$name/." "$work/corpus/"
fi
if [ -d "$dir/regress/$name" ] && [ -n "$(ls -A "$dir/regress/$name")" ]; then
	"$bin" -runs=0 "$dir/regress/$name"/*
fi
art=$(pwd)/fuzz-artifacts/$name
mkdir -p "$art"
# a dictionary of the format's words, when the target has one (dict/NAME.dict)
dict=""
if [ -f "$dir/dict/$name.dict" ]; then
	dict="-dict=$dir/dict/$name.dict"
fi
# shellcheck disable=SC2086
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=70000 \
	-print_final_stats=1 -artifact_prefix="$art/" $dict "$work/corpus"
