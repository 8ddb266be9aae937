#!/usr/bin/env bash
# The files view: every kernel-written corpus image, mounted with pktfuse (no loop device, no
# kernel udf), shows exactly the tree its manifest lists, read through FUSE with ordinary tools;
# statfs agrees with the LVID; a medium without UDF is refused with a clear message.
. "$(dirname "$0")/lib.sh"
need_root
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }

# manifest_of DIR: the corpus manifest format, built with find/stat/sha256sum through the mount
manifest_of() {
	(cd "$1" && find . -print0 | while IFS= read -r -d '' p; do
		if [ -L "$p" ]; then
			printf '%s\tL|%s|%s\n' "$p" "$p" "$(readlink "$p")"
		elif [ -d "$p" ]; then
			printf '%s\tD|%s|%s\n' "$p" "$p" "$(stat -c '%a %u %g' "$p")"
		elif [ -p "$p" ]; then
			printf '%s\tP|%s|%s\n' "$p" "$p" "$(stat -c '%a' "$p")"
		else
			printf '%s\tF|%s|%s|%s\n' "$p" "$p" "$(stat -c '%s %a %u %g %Y %h' "$p")" "$(sha256sum < "$p" | cut -c1-64)"
		fi
	done | LC_ALL=C sort -t "$(printf '\t')" -k1,1 | cut -f2-)
}

n=0
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	gunzip -c "$gz" > "$T/$name.img"
	before=$(sha256sum < "$T/$name.img")
	start_pktfuse "$T/$name.img" "$T/mnt"
	manifest_of "$T/mnt" > "$T/$name.got"
	diff -u "$CORPUS/$name.manifest" "$T/$name.got" | head -30 && true
	cmp -s "$CORPUS/$name.manifest" "$T/$name.got" || fail "$name: the files view differs from the manifest"
	# statfs from the LVID, and the mount is read-only
	read -r bs blocks free < <(stat -f -c '%S %b %f' "$T/mnt")
	[ "$blocks" -gt 0 ] && [ "$free" -gt 0 ] && [ "$free" -lt "$blocks" ] || fail "$name: statfs $bs $blocks $free"
	grep -q '^view: files$' <<< "$("$PKTFUSE" status --raw "$T/mnt")" || fail "$name: status does not work in the files view"
	"$PKTFUSE" umount "$T/mnt"
	# reading a disc never writes to it, even when it could be written
	[ "$(sha256sum < "$T/$name.img")" = "$before" ] || fail "$name: reading through the files view changed the image"
	# -o ro: the kernel and the daemon refuse every change
	start_pktfuse "$T/$name.img" "$T/mnt" -o ro
	if touch "$T/mnt/new-file" 2>/dev/null; then fail "$name: wrote to a read-only files view"; fi
	if mkdir "$T/mnt/new-dir" 2>/dev/null; then fail "$name: made a directory in a read-only files view"; fi
	"$PKTFUSE" umount "$T/mnt"
	[ "$(sha256sum < "$T/$name.img")" = "$before" ] || fail "$name: the read-only files view changed the image"
	note "$name: $(wc -l < "$T/$name.got") entries identical; statfs blocks=$blocks free=$free"
	n=$((n + 1))
done

truncate -s 8M "$T/blank.img"
if "$PKTFUSE" "$T/blank.img" "$T/mnt" 2> "$T/err"; then fail "mounted a medium without UDF"; fi
grep -q "no UDF file system found.*-o image" "$T/err" || fail "unclear message: $(cat "$T/err")"
echo "PASS: files view of $n corpus images"
