#!/usr/bin/env bash
# Named streams (UDF 3.3.5) kept by every rewrite: a file of a pktfuse-formatted UDF 2.01 image is
# given a stream directory with one stream (tests/udf/udf_add_stream.c: nothing on Linux makes one);
# the files view then changes the file (chmod, an append that moves its data out of the entry, a
# truncate) and the stream is still there, intact (its blocks were not handed out); the image
# checks clean and the kernel reads the file.  Deleting the file gives back every block: the file's
# and its streams'.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools
UDF_ADD_STREAM=${UDF_ADD_STREAM:?UDF_ADD_STREAM must name the udf_add_stream tool}
img="$T/s.img"
truncate -s 32M "$img"
"$PKTFUSE" format "$img" --revision 2.01 > /dev/null || fail "format"
free_of() { "$UDF_MANIFEST" --statfs "$1" | awk -F= '$1 == "freeblocks" { print $2 }'; }
free0=$(free_of "$img")

start_pktfuse "$img" "$T/mnt"
echo "the file's own bytes" > "$T/mnt/f"
echo "another" > "$T/mnt/g"
stop_pktfuse "$T/mnt"
free1=$(free_of "$img")
"$UDF_ADD_STREAM" "$img" f s1 "stream bytes, kept" > /dev/null || fail "udf_add_stream"
[ "$("$UDF_ADD_STREAM" --show "$img" f)" = "s1=stream bytes, kept" ] || fail "the tool's stream: $("$UDF_ADD_STREAM" --show "$img" f)"
[ "$(free_of "$img")" = $((free1 - 2)) ] || fail "the stream's two blocks: free $(free_of "$img"), was $free1"
"$PKTFUSE" check "$img" > "$T/check" 2>&1 || fail "the image with a stream does not check clean: $(cat "$T/check")"

# every rewrite of the entry keeps it: attributes, data moved out of the entry, a truncate
start_pktfuse "$img" "$T/mnt"
assert_rw "$T/mnt"
chmod 600 "$T/mnt/f"
fsync_path "$T/mnt/f" || fail "fsync after chmod"
"$PATTERN" streams 100000 >> "$T/mnt/f"
fsync_path "$T/mnt/f" || fail "fsync after the append"
truncate -s 50000 "$T/mnt/f"
touch -d @1234567890 "$T/mnt/f"
stop_pktfuse "$T/mnt"
got=$("$UDF_ADD_STREAM" --show "$img" f 2>&1) || fail "after the rewrites: $got"
[ "$got" = "s1=stream bytes, kept" ] || fail "after the rewrites the stream reads '$got'"
(echo "the file's own bytes"; "$PATTERN" streams 100000) > "$T/full"
head -c 50000 "$T/full" > "$T/want"
start_pktfuse "$img" "$T/mnt"
cmp "$T/want" "$T/mnt/f" || fail "the file's data differs"
[ "$(stat -c '%a %Y' "$T/mnt/f")" = "600 1234567890" ] || fail "attributes: $(stat -c '%a %Y' "$T/mnt/f")"
stop_pktfuse "$T/mnt"
"$PKTFUSE" check "$img" > "$T/check" 2>&1 || fail "after the rewrites the image does not check clean: $(cat "$T/check")"
udfinfo "$img" > "$T/ui" 2>&1 || fail "udfinfo: $(cat "$T/ui")"
note "the stream survived chmod, an append out of the entry, a truncate and touch"
# the Linux kernel reads the rewritten extended file entry (it skips the streams)
if command -v qemu-system-x86_64 > /dev/null; then
	printf 'mount -t udf -o ro /dev/vda /mnt || exit 3\nsha256sum /mnt/f | cut -c1-64\n' > "$T/guest.sh"
	if bash "$(dirname "$0")/../kernel/kudf.sh" "$img" "$T/guest.sh" > "$T/kernel" 2> "$T/kernel.err"; then
		[ "$(cat "$T/kernel")" = "$(sha256sum < "$T/want" | cut -c1-64)" ] || fail "the kernel reads other bytes: $(cat "$T/kernel")"
		note "the kernel reads the file with a stream"
	elif grep -q "kudf: cannot" "$T/kernel.err"; then
		note "kernel check skipped: $(cat "$T/kernel.err")"
	else
		fail "the kernel could not read the disc: $(cat "$T/kernel" "$T/kernel.err" | tail -5)"
	fi
fi

# deleting the file frees its blocks and its streams'
start_pktfuse "$img" "$T/mnt"
rm "$T/mnt/f" "$T/mnt/g"
stop_pktfuse "$T/mnt"
[ "$(free_of "$img")" = "$free0" ] || fail "after deleting everything $(free_of "$img") blocks free, $free0 when fresh"
"$PKTFUSE" check "$img" > "$T/check" 2>&1 || fail "after the delete the image does not check clean: $(cat "$T/check")"
note "deleting the file gave back its blocks and its stream directory's"
echo "PASS: named streams kept by every rewrite, freed with their file"
