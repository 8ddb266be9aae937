#!/usr/bin/env bash
# Round trips the files view saves the kernel (issue 13, the files view at FUSE's limit), each
# asserted by what the daemon counts or what an application sees:
#   - the security.capability question: getxattr answers ENOSYS, so the kernel asks once per mount,
#     not before the first write to every file; extended attributes read as "not supported";
#   - the statistics still reach `pktfuse status` (an ioctl on the root instead of the attribute);
#   - the files view runs libfuse's single-threaded loop (the image view keeps the multithreaded one).
#   - a copy of new small files costs the kernel's minimum of requests per file: LOOKUP (the name is
#     new), CREATE, one WRITE, RELEASE (sent in the background); nothing else per file (no GETATTR,
#     GETXATTR, FLUSH, SETATTR), as counted by the daemon (fuse_requests: requests by opcode);
#   - with default_permissions, names and missing names (negative entries) are kept by the kernel:
#     repeated lookups of either reach the daemon once, and what the kernel itself creates, renames
#     or removes is seen at once.
. "$(dirname "$0")/lib.sh"
need_root

truncate -s 32M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
start_pktfuse "$T/disc.img" "$T/mnt"
mkdir "$T/mnt/d"
for i in $(seq 1 30); do echo "file $i" > "$T/mnt/d/f$i"; done
for i in $(seq 1 30); do echo "more $i" >> "$T/mnt/d/f$i"; done
n=$(stat_of "$T/mnt" fuse_getxattr_requests)
[ -n "$n" ] || fail "no fuse_getxattr_requests in the statistics"
[ "$n" -le 1 ] || fail "the kernel asked getxattr $n times for 60 writes to 30 files (expected at most once)"
for i in $(seq 1 30); do
	[ "$(cat "$T/mnt/d/f$i")" = "file $i"$'\n'"more $i" ] || fail "f$i holds $(cat "$T/mnt/d/f$i")"
done
python3 - "$T/mnt/d/f1" << 'EOF' || fail "getxattr on a file of the files view"
import errno, os, sys
try:
    os.getxattr(sys.argv[1], "user.x")
    sys.exit("getxattr returned a value")
except OSError as e:
    if e.errno != errno.EOPNOTSUPP:
        sys.exit(f"getxattr: {e}")
EOF
[ "$(stat_of "$T/mnt" view)" = files ] || fail "pktfuse status --raw does not read the files view"
# one FUSE thread: the engine serves one request at a time, more threads only wake each other
[ "$(stat_of "$T/mnt" fuse_loop)" = single ] || fail "the files view runs the $(stat_of "$T/mnt" fuse_loop)-threaded loop"
"$PKTFUSE" status "$T/mnt" > "$T/human" || fail "pktfuse status"
grep -q 'files, UDF' "$T/human" || fail "status: $(cat "$T/human")"
stop_pktfuse "$T/mnt"

# requests_in "OP=N OP=N…" OPCODE: N of OPCODE (0 when absent); requests_in TEXT: the sum of all
requests_in() {
	tr ' ' '\n' <<< "$1" | awk -F= -v k="${2:-}" 'k == "" || $1 == k { n += $2 } END { print n + 0 }'
}
dirs=4 per_dir=50
files=$((dirs * per_dir))
for d in $(seq 1 $dirs); do
	mkdir -p "$T/src/d$d"
	for f in $(seq 1 $per_dir); do head -c $(((d * f * 97) % 12000 + 1)) /dev/urandom > "$T/src/d$d/f$f"; done
done
start_pktfuse "$T/disc.img" "$T/mnt"
before=$(stat_of "$T/mnt" fuse_requests)
[ -n "$before" ] || fail "no fuse_requests in the statistics"
cp -r "$T/src" "$T/mnt/copy"
sync "$T/mnt/copy/d1/f1"
after=$(stat_of "$T/mnt" fuse_requests)
declare -A got
for op in LOOKUP CREATE WRITE RELEASE GETATTR SETATTR GETXATTR FLUSH; do
	got[$op]=$(($(requests_in "$after" $op) - $(requests_in "$before" $op)))
done
total=$(($(requests_in "$after") - $(requests_in "$before")))
diff -r "$T/src" "$T/mnt/copy" > /dev/null || fail "the copy differs from its source"
echo "requests for $files new files in $dirs new directories: total $total; $(for op in "${!got[@]}"; do printf '%s %s ' "$op" "${got[$op]}"; done)"
[ "${got[CREATE]}" -eq $files ] || fail "${got[CREATE]} CREATEs for $files new files"
# one LOOKUP per new name (file or directory); a few for the copy's top and the status calls
[ "${got[LOOKUP]}" -le $((files + dirs + 5)) ] || fail "${got[LOOKUP]} LOOKUPs for $files new files in $dirs directories"
[ "${got[WRITE]}" -le $files ] || fail "${got[WRITE]} WRITEs for $files files of at most 12,000 bytes"
[ "${got[RELEASE]}" -le $((files + 5)) ] || fail "${got[RELEASE]} RELEASEs for $files files"
for op in GETATTR SETATTR GETXATTR FLUSH; do
	[ "${got[$op]}" -le 2 ] || fail "${got[$op]} ${op}s during the copy of $files files (expected none per file)"
done
[ "$total" -le $((4 * files + 2 * dirs + 20)) ] || fail "$total requests for $files new files (at most 4 per file)"
stop_pktfuse "$T/mnt"

# lookups_during MNT CMD…: how many LOOKUPs the daemon got while CMD ran
lookups_during() {
	local mnt=$1 a b
	shift
	a=$(stat_of "$mnt" fuse_lookup_requests)
	"$@" > /dev/null
	b=$(stat_of "$mnt" fuse_lookup_requests)
	echo $((b - a))
}
# stat_many PATH: 200 stat(2) calls of PATH in one process; "missing" or "there" each time
stat_many() {
	python3 - "$1" << 'EOF'
import os, sys
seen = set()
for _ in range(200):
    seen.add("there" if os.path.lexists(sys.argv[1]) else "missing")
print(" ".join(sorted(seen)))
EOF
}
start_pktfuse "$T/disc.img" "$T/mnt" -o default_permissions
[ -d "$T/mnt/d" ] || fail "no d after remount" # its own LOOKUP, before the counting
n=$(lookups_during "$T/mnt" stat_many "$T/mnt/d/nothing-here")
[ "$n" -le 1 ] || fail "200 stats of a missing name made $n LOOKUPs (a negative entry: at most 1)"
[ "$(stat_many "$T/mnt/d/nothing-here")" = missing ] || fail "the missing name is there"
n=$(lookups_during "$T/mnt" stat_many "$T/mnt/d/f7")
[ "$n" -le 1 ] || fail "200 stats of a name made $n LOOKUPs (at most 1)"
echo new > "$T/mnt/d/nothing-here"
[ "$(stat_many "$T/mnt/d/nothing-here")" = there ] || fail "a name created after its negative entry is not seen"
mv "$T/mnt/d/nothing-here" "$T/mnt/d/moved"
[ "$(stat_many "$T/mnt/d/nothing-here")" = missing ] || fail "a renamed name is still seen under its old name"
[ "$(cat "$T/mnt/d/moved")" = new ] || fail "the renamed file"
rm "$T/mnt/d/moved"
[ "$(stat_many "$T/mnt/d/moved")" = missing ] || fail "a removed name is still seen"
stop_pktfuse "$T/mnt"
# what the kernel cached is true on the medium too
start_pktfuse "$T/disc.img" "$T/mnt" -o ro
[ ! -e "$T/mnt/d/moved" ] && [ ! -e "$T/mnt/d/nothing-here" ] && [ -f "$T/mnt/d/f7" ] || fail "after remount"
stop_pktfuse "$T/mnt"
start_pktfuse "$T/disc.img" "$T/mnt" -o image
[ "$(stat_of "$T/mnt" fuse_loop)" = multi ] || fail "the image view runs the $(stat_of "$T/mnt" fuse_loop)-threaded loop"
stop_pktfuse "$T/mnt"
echo "PASS: the files view is asked getxattr at most once per mount, a name and a missing name once; its statistics still reach status"
