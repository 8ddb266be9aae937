#!/usr/bin/env bash
# POSIX behaviour of the writable files view, errno by errno (rw_posix.py): renames over existing
# names, unlink of open files, link counts, EEXIST/ENOTEMPTY/ENOTDIR/EISDIR/ENAMETOOLONG, modes,
# owners, times, truncate and holes, device nodes, statfs; all of it again after a remount.  Then
# what users other than root may do, `-o ro`, UDF 2.50/2.60 (read-only with a message), and a
# small image filled to ENOSPC: it stays consistent, and deleting gives the space back.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools
PY="$T/rw_posix.py"
cp "$(dirname "$0")/rw_posix.py" "$PY"
cp "$(dirname "$0")/fscheck.py" "$T/"
chmod 755 "$PY"
mkdir -p "$T/mnt"

# A. POSIX behaviour, then again after a remount
img="$T/posix.img"
mk_udf "$img" 64M hd 2.01 2048
start_pktfuse "$img" "$T/mnt"
assert_rw "$T/mnt"
python3 "$PY" basic "$T/mnt" "$T/state.json" || problem "POSIX behaviour (see the lines above)"
rich_list "$T/mnt" > "$T/before"
"$PKTFUSE" umount "$T/mnt"
check_udfinfo "$img" "after the POSIX checks" > /dev/null
start_pktfuse "$img" "$T/mnt"
python3 "$PY" after "$T/mnt" "$T/state.json" || problem "after remount (see the lines above)"
rich_list "$T/mnt" > "$T/after"
grep -v '^F|./p/t|' "$T/before" > "$T/before.cmp" # p/t: read above, its atime is not listed anyway
grep -v '^F|./p/t|' "$T/after" > "$T/after.cmp"
diff -u "$T/before.cmp" "$T/after.cmp" > "$T/diff" || { head -30 "$T/diff"; problem "the tree changed across the remount"; }
"$PKTFUSE" umount "$T/mnt"
note "POSIX behaviour and its persistence: checked"

# B. other users: what the modes allow and deny (the kernel checks them with default_permissions)
start_pktfuse "$img" "$T/mnt" -o allow_other
mkdir -p "$T/mnt/perm/private" "$T/mnt/perm/open"
chmod 755 "$T/mnt/perm"
chmod 700 "$T/mnt/perm/private"
chmod 1777 "$T/mnt/perm/open"
echo secret > "$T/mnt/perm/secret"
chmod 600 "$T/mnt/perm/secret"
printf public > "$T/mnt/perm/public"
chmod 644 "$T/mnt/perm/public"
echo r > "$T/mnt/perm/open/roots"
[ "$(stat -c %a "$T/mnt/perm/secret")" = 600 ] || fail "chmod 600 not shown"
opts=$(awk -v m="$T/mnt" '$2 == m { print $4 }' /proc/mounts)
if [[ ",$opts," == *,default_permissions,* ]]; then
	PYU=$(command -v /usr/bin/python3 || command -v python3)
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PYU" "$PY" user "$T/mnt" 65534 ||
		problem "permissions of other users (see the lines above)"
	note "other users: modes enforced (default_permissions)"
else
	note "the files view is mounted without default_permissions ($opts): modes checked as st_mode only"
fi
"$PKTFUSE" umount "$T/mnt"

# C. -o ro: nothing can be changed and the image stays byte for byte the same
sum=$(sha256sum < "$img")
start_pktfuse "$img" "$T/mnt" -o ro
if touch "$T/mnt/ro-file" 2> "$T/err"; then fail "-o ro: created a file"; fi
grep -q "Read-only file system" "$T/err" || fail "-o ro: not EROFS: $(cat "$T/err")"
if rm "$T/mnt/p/plain" 2> /dev/null; then fail "-o ro: deleted a file"; fi
python3 -c 'import os, sys; sys.exit(0 if os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY else 1)' "$T/mnt" ||
	fail "-o ro: statfs does not say read-only"
"$PKTFUSE" umount "$T/mnt"
[ "$(sha256sum < "$img")" = "$sum" ] || fail "-o ro: the image changed"
note "-o ro: read-only, image unchanged"

# D. UDF 2.50 and 2.60 volumes pktfuse does not write: mounted read-only, with a message saying so
# on the terminal; the image is not touched.  (mkudffs makes 2.50+ only for write-once media: the
# 2.50 image is a mkudffs 2.01 one moved into a metadata partition by udf_make_meta, which leaves
# the metadata file's blocks free in the space bitmap and records no metadata bitmap, the 2.60 one
# mkudffs's BD-R layout: a VAT volume, which pktfuse writes, but an image of the whole disc, so
# full, with its VAT short of the end.)
UDF_MAKE_META=${UDF_MAKE_META:?UDF_MAKE_META must name the udf_make_meta tool}
mk_udf "$T/r201.img" 32M hd 2.01 2048
"$UDF_MAKE_META" "$T/r201.img" "$T/r250.img" > /dev/null
mk_udf "$T/r260.img" 32M bdr 2.60 2048
for rev in 2.50 2.60; do
	r="$T/r${rev/./}.img"
	grep -qx "udfrev=$rev" <<< "$("$UDF_MANIFEST" --statfs "$r")" || fail "the $rev image is not UDF $rev"
	sum=$(sha256sum < "$r")
	"$PKTFUSE" "$r" "$T/mnt" > "$T/out" 2>&1 || fail "UDF $rev: not mounted: $(cat "$T/out")"
	_mounts+=("$T/mnt")
	grep -qi "read-only" "$T/out" || problem "UDF $rev: mounted without a message about read-only on the terminal ('$(cat "$T/out")')"
	awk -v m="$T/mnt" '$2 == m { print $4 }' /proc/mounts | grep -q '^ro,' || problem "UDF $rev: not mounted read-only"
	if mkdir "$T/mnt/x" 2> /dev/null; then problem "UDF $rev: wrote"; fi
	"$PKTFUSE" umount "$T/mnt"
	[ "$(sha256sum < "$r")" = "$sum" ] || problem "UDF $rev: the image changed"
	note "UDF $rev: read-only; the terminal said '$(head -1 "$T/out")'"
done

# E. full: ENOSPC, and the file system survives it
img="$T/small.img"
mk_udf "$img" 8M hd 2.01 2048
free0=$("$UDF_MANIFEST" --statfs "$img" | awk -F= '$1 == "freeblocks" { print $2 }')
start_pktfuse "$img" "$T/mnt"
python3 "$PY" fill "$T/mnt" "$T/fill.json" || problem "filling to ENOSPC (see the lines above)"
"$PKTFUSE" umount "$T/mnt" || fail "unmount of a full file system failed"
check_udfinfo "$img" "full" > /dev/null
start_pktfuse "$img" "$T/mnt"
python3 "$PY" fillcheck "$T/mnt" "$T/fill.json" "$free0" || problem "after ENOSPC (see the lines above)"
"$PKTFUSE" umount "$T/mnt"
check_udfinfo "$img" "emptied after ENOSPC" > "$T/ui"
read -r free2 _ < "$T/ui"
[ "$free2" -ge $((free0 - 2)) ] || problem "after ENOSPC and deleting everything: $free2 free blocks, $free0 when fresh"
note "ENOSPC: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["done"]))' "$T/fill.json") files fitted, intact after remount; space returned ($free2 of $free0)"
finish "POSIX behaviour of the writable files view"
