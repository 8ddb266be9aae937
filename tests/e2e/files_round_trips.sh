#!/usr/bin/env bash
# Round trips the files view saves the kernel (issue 13, the files view at FUSE's limit), each
# asserted by what the daemon counts or what an application sees:
#   - the security.capability question: getxattr answers ENOSYS, so the kernel asks once per mount,
#     not before the first write to every file; extended attributes read as "not supported";
#   - the statistics still reach `pktfuse status` (an ioctl on the root instead of the attribute).
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
"$PKTFUSE" status "$T/mnt" > "$T/human" || fail "pktfuse status"
grep -q 'files, UDF' "$T/human" || fail "status: $(cat "$T/human")"
stop_pktfuse "$T/mnt"
echo "PASS: the files view is asked getxattr at most once per mount; its statistics still reach status"
