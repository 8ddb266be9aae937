#!/usr/bin/env bash
# Name lengths on the writable files view, through the kernel (rw_open.py names): a name of
# statfs's f_namemax bytes works with every call that takes a name; one byte more gets
# ENAMETOOLONG from each of them (lookup, create, mknod, mkdir, symlink, link, unlink, rmdir,
# rename, chmod, chown, truncate), never ENOENT.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools
PY="$T/rw_open.py"
cp "$(dirname "$0")/rw_open.py" "$PY"
cp "$(dirname "$0")/fscheck.py" "$T/"
img="$T/names.img"
truncate -s 32M "$img"
"$PKTFUSE" format "$img" > /dev/null || fail "format failed"
start_pktfuse "$img" "$T/mnt"
python3 "$PY" names "$T/mnt" || problem "name lengths (see the lines above)"
"$PKTFUSE" umount "$T/mnt"
check_udfinfo "$img" "after the name checks" > /dev/null
finish "name lengths on the files view"
