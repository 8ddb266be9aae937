#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# sg3-utils and pktfuse's own SG_IO transport against the emulator through the LD_PRELOAD shim.
set -u
SHIM=$1 PKTMMC=$2
D=$(mktemp -d /tmp/sgshim-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# A symlink to /dev/null: a character device to stat(), served by the shim when opened by this name.
ln -s /dev/null "$D/sr9" || exit 1
command -v sg_inq > /dev/null || { echo "SKIP: sg3-utils is not installed"; exit 77; }
export PKTFUSE_SGSHIM_DEV="$D/sr9"
run() { LD_PRELOAD="$SHIM" "$@"; }

# A formatted DVD+RW made through the emulator directly.
"$PKTMMC" format "emu:dvd+rw:$D/disc.img,size=64M" || fail "format"
export PKTFUSE_SGSHIM_EMU="dvd+rw:$D/disc.img"
run sg_inq "$D/sr9" > "$D/inq" 2>&1 || fail "sg_inq: $(cat "$D/inq")"
grep -q "PKTFUSE" "$D/inq" || fail "sg_inq vendor: $(cat "$D/inq")"
grep -q "EMU dvd+rw" "$D/inq" || fail "sg_inq product"
run sg_turs "$D/sr9" > "$D/tur" 2>&1 || fail "sg_turs: $(cat "$D/tur")"
run sg_readcap "$D/sr9" > "$D/cap" 2>&1 || fail "sg_readcap: $(cat "$D/cap")"
grep -q "Last LBA=32767" "$D/cap" || fail "sg_readcap last LBA: $(cat "$D/cap")"
grep -q "Logical block length=2048" "$D/cap" || fail "sg_readcap block length"
run sg_get_config --current "$D/sr9" > "$D/cfg" 2>&1 || fail "sg_get_config: $(cat "$D/cfg")"
grep -qi "DVD+RW" "$D/cfg" || fail "sg_get_config profile: $(cat "$D/cfg")"
run sg_modes --page=0x2a "$D/sr9" > "$D/modes" 2>&1 || fail "sg_modes: $(cat "$D/modes")"
grep -qi "2a" "$D/modes" || fail "sg_modes page 2a: $(cat "$D/modes")"
# dvd+rw-tools, when installed (scripts/deps.sh installs it).
if command -v dvd+rw-mediainfo > /dev/null; then
	run dvd+rw-mediainfo "$D/sr9" > "$D/mi" 2>&1 || fail "dvd+rw-mediainfo: $(cat "$D/mi")"
	grep -q "Mounted Media:[[:space:]]*1Ah, DVD+RW" "$D/mi" || fail "mediainfo profile: $(cat "$D/mi")"
	grep -q "READ CAPACITY:[[:space:]]*32768\*2048" "$D/mi" || fail "mediainfo capacity: $(cat "$D/mi")"
	grep -q "26h(0):[[:space:]]*32768\*2048" "$D/mi" || fail "mediainfo format capacities: $(cat "$D/mi")"
	grep -q "BG Format Status:[[:space:]]*complete" "$D/mi" || fail "mediainfo background format: $(cat "$D/mi")"
fi
# pktfuse's own SG_IO transport through the same shim agrees with sg3-utils.
run "$PKTMMC" info "$D/sr9" > "$D/info" 2>&1 || fail "pktmmc info over SG_IO: $(cat "$D/info")"
grep -q "medium: DVD+RW" "$D/info" || fail "info medium: $(cat "$D/info")"
grep -q "capacity: 32768 sectors" "$D/info" || fail "info capacity: $(cat "$D/info")"
run "$PKTMMC" dd "$D/sr9" write 0 512 3 || fail "dd write over SG_IO"
run "$PKTMMC" dd "$D/sr9" verify 0 512 3 || fail "dd verify over SG_IO"
"$PKTMMC" dd "emu:dvd+rw:$D/disc.img" verify 0 512 3 || fail "data written over SG_IO not on the disc"
# The sg driver's rule (O_EXCL needs write access): a read-only look opens without O_EXCL, a writer with it.
PKTFUSE_SGSHIM_SG=1 run "$PKTMMC" info "$D/sr9" > "$D/info3" 2>&1 || fail "pktmmc info on an sg device: $(cat "$D/info3")"
grep -q "medium: DVD+RW" "$D/info3" || fail "info on an sg device: $(cat "$D/info3")"
PKTFUSE_SGSHIM_SG=1 run "$PKTMMC" dd "$D/sr9" write 0 64 4 || fail "dd write on an sg device"
# A command the kernel's SG_IO filter refuses is named as such, not with an earlier command's sense.
PKTFUSE_SGSHIM_EPERM=04 run "$PKTMMC" format "$D/sr9" --force > "$D/fmt" 2>&1 && fail "format with FORMAT UNIT refused succeeded"
grep -q "the kernel refused command 04h (FORMAT UNIT) for this user: Operation not permitted" "$D/fmt" ||
	fail "refused FORMAT UNIT: $(cat "$D/fmt")"
# Errors travel back as sense: tray open → NOT READY, medium not present.
export PKTFUSE_SGSHIM_EMU="dvd+rw:$D/disc.img,tray_open=1"
run sg_turs "$D/sr9" > "$D/tur2" 2>&1 && fail "sg_turs with the tray open succeeded"
grep -qi "not ready" "$D/tur2" || fail "sg_turs tray open: $(cat "$D/tur2")"
run "$PKTMMC" info "$D/sr9" > "$D/info2" 2>&1 || fail "pktmmc info with the tray open: $(cat "$D/info2")"
grep -q "no disc in the drive (tray open)" "$D/info2" || fail "info tray open: $(cat "$D/info2")"
echo "sgshim: sg3-utils and pktfuse agree"
