#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The emulated write-once media through the LD_PRELOAD SG_IO shim: sg3-utils' sg_readcap and
# dvd+rw-mediainfo (DVD-R, DVD+R, BD-R) agree with `pktfuse info` on a disc with a closed session and
# an open one, and pktfuse info over SG_IO says what it says over the emulator directly.
# Usage: sgshim_wo.sh SHIM PKTMMC PKTFUSE
set -u
SHIM=$1 PKTMMC=$2 PKTFUSE=$3
D=$(mktemp -d /tmp/sgshim-wo-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v sg_readcap > /dev/null || { echo "SKIP: sg3-utils (sg_readcap) is not installed"; exit 77; }
ln -s /dev/null "$D/sr9" || exit 1
export PKTFUSE_SGSHIM_DEV="$D/sr9"
run() { LD_PRELOAD="$SHIM" "$@"; }
# value FILE "label: " → what follows the label on its line
value() { sed -n "s/^$2//p" "$1" | head -1; }

for p in cd-r dvd-r dvd+r bd-r; do
	img="$D/$p.img"
	"$PKTFUSE" info "emu:$p:$img,size=64M" > /dev/null || fail "$p: new disc"
	"$PKTMMC" append "emu:$p:$img" 3 > /dev/null || fail "$p: append"
	"$PKTMMC" close "emu:$p:$img" session || fail "$p: close session"
	"$PKTMMC" append "emu:$p:$img" 1 > /dev/null || fail "$p: append to session 2"
	"$PKTFUSE" info "emu:$p:$img" > "$D/info" || fail "$p: info"
	nwa=$(value "$D/info" "next writable address: ")
	free=$(value "$D/info" "free: " | cut -d' ' -f1)
	last=$(value "$D/info" "recorded: up to sector ")
	[ -n "$nwa" ] && [ -n "$free" ] && [ -n "$last" ] || fail "$p: info lacks NWA/free/recorded: $(cat "$D/info")"
	export PKTFUSE_SGSHIM_EMU="$p:$img"
	run sg_readcap "$D/sr9" > "$D/cap" 2>&1 || fail "$p: sg_readcap: $(cat "$D/cap")"
	grep -q "Last LBA=$last " "$D/cap" || fail "$p: sg_readcap says $(grep 'Last LBA' "$D/cap"), info recorded up to $last"
	# pktfuse's own SG_IO transport through the shim tells the same
	run "$PKTFUSE" info "$D/sr9" > "$D/info-sg" 2>&1 || fail "$p: info over SG_IO: $(cat "$D/info-sg")"
	cmp -s "$D/info" "$D/info-sg" || fail "$p: info over SG_IO differs: $(diff "$D/info" "$D/info-sg")"
	if [ "$p" != cd-r ] && command -v dvd+rw-mediainfo > /dev/null; then
		run dvd+rw-mediainfo "$D/sr9" > "$D/mi" 2>&1 || fail "$p: dvd+rw-mediainfo: $(cat "$D/mi")"
		grep -q "Disc status:[[:space:]]*appendable" "$D/mi" || fail "$p: mediainfo disc status: $(cat "$D/mi")"
		grep -q "Number of Sessions:[[:space:]]*2$" "$D/mi" || fail "$p: mediainfo sessions: $(cat "$D/mi")"
		grep -q "Next Writable Address:[[:space:]]*$nwa\*2KB" "$D/mi" || fail "$p: mediainfo NWA, info $nwa: $(cat "$D/mi")"
		grep -q "Free Blocks:[[:space:]]*$free\*2KB" "$D/mi" || fail "$p: mediainfo free, info $free: $(cat "$D/mi")"
		grep -q "READ CAPACITY:[[:space:]]*$((last + 1))\*2048" "$D/mi" || fail "$p: mediainfo capacity: $(cat "$D/mi")"
		echo "-- $p: dvd+rw-mediainfo and sg_readcap agree with info (NWA $nwa, free $free, recorded to $last)"
	else
		echo "-- $p: sg_readcap agrees with info (recorded to $last)"
	fi
	unset PKTFUSE_SGSHIM_EMU
done
