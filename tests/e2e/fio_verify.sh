#!/usr/bin/env bash
# fio random writes of 2-64 KiB with crc32c verification on `disc`, verified again after an unmount
# and a fresh mount.
. "$(dirname "$0")/lib.sh"
need_root
command -v fio >/dev/null || fail "fio is not installed"

truncate -s 64M "$T/img"
job=(--name=pkt --filename="$T/mnt/disc" --rw=randwrite --bsrange=2k-64k --size=48M
     --ioengine=psync --direct=1 --verify=crc32c --verify_fatal=1 --randseed=4242 --minimal)
start_pktfuse "$T/img" "$T/mnt" -o image,strict,packet=32,cache=4M
fio "${job[@]}" > "$T/fio1.log" || { cat "$T/fio1.log"; fail "fio write+verify failed"; }
[ "$(stat_of "$T/mnt" backend_rejected_writes)" = 0 ] || fail "non-packet backend writes"
[ "$(stat_of "$T/mnt" write_errors)" = 0 ] || fail "write errors"
stop_pktfuse "$T/mnt"

start_pktfuse "$T/img" "$T/mnt" -o image,packet=32
fio "${job[@]}" --verify_only > "$T/fio2.log" || { cat "$T/fio2.log"; fail "verification after remount failed"; }
[ "$(stat_of "$T/mnt" user_write_bytes)" = 0 ] || fail "verify-only wrote data"
stop_pktfuse "$T/mnt"
echo "PASS: fio crc32c random 2-64 KiB writes, verified before and after remount"
