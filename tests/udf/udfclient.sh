#!/usr/bin/env bash
# Cross-check with an independent reader: udfclient (Debian package udfclient) extracts every
# regular file of every corpus image whose path it can handle (plain ASCII, no spaces: it mangles
# other names and shows symlinks as files), and the bytes agree with what pktfuse's engine reads.
set -euo pipefail
CORPUS=${CORPUS:?}
command -v udfclient >/dev/null || { echo "SKIP: udfclient is not installed"; exit 77; }
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
total=0
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	bs=${name##*-b}; bs=${bs%%-*}
	gunzip -c "$gz" > "$W/img"
	"$UDF_MANIFEST" "$W/img" > "$W/ours"
	# the volume's name as udfclient shows it at its top level
	vol=$(printf 'ls\nquit\n' | udfclient -b "$bs" "$W/img" 2>/dev/null | awk '/^d/ && $5 != "." && $5 != ".." {print $5; exit}')
	[ -n "$vol" ] || { echo "FAIL: $name: udfclient shows no volume"; exit 1; }
	rm -rf "$W/out"; mkdir -p "$W/out"
	: > "$W/cmds"; : > "$W/want"
	i=0; last=
	grep '^F|' "$W/ours" | LC_ALL=C grep -E '^F\|\./[A-Za-z0-9._/-]+\|' | while IFS='|' read -r _ path _ sha; do
		dir=$(dirname "${path#./}"); file=$(basename "$path")
		if [ "$dir" != "$last" ]; then
			i=$((i + 1)); mkdir -p "$W/out/$i"
			printf 'lcd %s\ncd /%s/%s\n' "$W/out/$i" "$vol" "$([ "$dir" = . ] && echo || echo "$dir")" >> "$W/cmds"
			last=$dir
		fi
		printf 'get %s\n' "$file" >> "$W/cmds"
		printf '%s  %s\n' "$sha" "$W/out/$i/$file" >> "$W/want"
	done
	printf 'quit\n' >> "$W/cmds"
	timeout 300 udfclient -b "$bs" "$W/img" < "$W/cmds" > "$W/uc.log" 2>&1 || { tail -20 "$W/uc.log"; echo "FAIL: $name: udfclient failed"; exit 1; }
	n=$(wc -l < "$W/want")
	[ "$n" -gt 100 ] || { echo "FAIL: $name: only $n files to compare"; exit 1; }
	sha256sum --quiet -c "$W/want" || { echo "FAIL: $name: udfclient extracted different bytes"; exit 1; }
	echo "ok: $name: $n files extracted by udfclient match"
	total=$((total + n))
done
echo "PASS: $total files cross-checked with udfclient"
