#!/usr/bin/env bash
# bench/fuse_floor, the FUSE floor of bench/udf_write.sh's copy row, stays a file system that copy
# works on: a tree copied in with cp -r and `sync FILE` reads back the same, a directory of many
# names lists and looks them all up, and the daemon ends cleanly at the unmount with its counts.
# Usage: fuse_floor.sh FUSE_FLOOR
. "$(dirname "$0")/lib.sh"
FLOOR=${1:?usage: fuse_floor.sh FUSE_FLOOR}
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit "$SKIP"; }

mkdir -p "$T/src/a/b/c" "$T/src/empty" "$T/src/many" "$T/mnt"
sizes=(0 1 4095 4096 4097 131073 1048576)
for i in "${!sizes[@]}"; do "$PATTERN" "floor-$i" "${sizes[$i]}" > "$T/src/a/file$i"; done
"$PATTERN" floor-deep 300000 > "$T/src/a/b/c/deep"
# more names than one READDIR reply holds and than the first hash tables of a directory
for i in $(seq 1 600); do echo "small file $i" > "$T/src/many/name-with-some-length-$i"; done

"$FLOOR" "$T/mnt" > "$T/floor.out" 2> "$T/floor.err" &
pid=$!
_pids+=("$pid")
for _ in $(seq 100); do mountpoint -q "$T/mnt" && break; sleep 0.1; done
mountpoint -q "$T/mnt" || { cat "$T/floor.err"; fail "fuse_floor did not mount"; }
_mounts+=("$T/mnt")

cp -r "$T/src" "$T/mnt/copy" || fail "cp -r into fuse_floor failed"
sync "$T/mnt/copy/a/file1" || fail "sync FILE on fuse_floor failed"
tree_sums "$T/src" > "$T/want"
tree_sums "$T/mnt/copy" > "$T/got"
diff -u "$T/want" "$T/got" || fail "the tree read back from fuse_floor differs from the source"
listed=$(find "$T/mnt/copy/many" -mindepth 1 | wc -l)
[ "$listed" = 600 ] || fail "readdir of 600 names lists $listed"
[ ! -e "$T/mnt/copy/missing" ] || fail "a name never made exists"
mkdir "$T/mnt/copy/a" 2> /dev/null && fail "mkdir of an existing name succeeded"
truncate -s 10 "$T/mnt/copy/a/file5" || fail "truncate on fuse_floor failed"
[ "$(stat -c %s "$T/mnt/copy/a/file5")" = 10 ] || fail "truncate to 10 bytes did not give 10 bytes"
cmp -n 10 "$T/src/a/file5" "$T/mnt/copy/a/file5" || fail "truncate changed the bytes it kept"

fusermount3 -u "$T/mnt" || fail "fusermount3 -u failed"
_mounts=()
wait "$pid" || { cat "$T/floor.err"; fail "fuse_floor exited with an error"; }
_pids=()
files=$(find "$T/src" -type f | wc -l)
creates=$(grep -o 'CREATE=[0-9]*' "$T/floor.out" | cut -d= -f2)
[ "${creates:-0}" -eq "$files" ] || fail "fuse_floor counted ${creates:-no} CREATE for $files files: $(cat "$T/floor.out")"
note "$(cat "$T/floor.out")"
echo "PASS: cp -r of $files files into fuse_floor and back, its request counts at the unmount"
