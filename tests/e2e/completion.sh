#!/usr/bin/env bash
# The bash completion offers every subcommand, every -o option the daemon accepts, every format
# option and every emulator profile, read from the program itself (--help, the option table in
# fuse/options.c, the emulator's list of profiles), and completes comma lists and emu:PROFILE:IMAGE.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
COMPLETION="$SRC/data/pktfuse.bash-completion"
[ -f "$COMPLETION" ] || fail "no $COMPLETION"
# complete LINE → the candidates bash would offer for LINE (cursor at its end), one a line
complete_line() {
	bash -c '. "$1"; COMP_LINE=$2; COMP_POINT=${#2}; _pktfuse; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPLETION" "$1"
}
# expect_offered LINE WORD…: each WORD is among the candidates for LINE
expect_offered() {
	local line=$1 w
	shift
	complete_line "$line" > "$T/offered"
	for w in "$@"; do grep -qxF -- "$w" "$T/offered" || fail "'$line' does not offer '$w' (offers: $(tr '\n' ' ' < "$T/offered"))"; done
}

# subcommands: the usage lines of --help
"$PKTFUSE" --help > "$T/help"
subs=$(sed -nE 's/^(usage:)? +[^ ]*pktfuse ([a-z]+) .*/\2/p' "$T/help")
[ "$(wc -w <<< "$subs")" -ge 5 ] || fail "too few subcommands in --help: $subs"
expect_offered "pktfuse " $subs
# -o options: those --help lists (pktfuse's and FUSE's) and every key of the option table (fstab's discarded ones aside)
help_opts=$(sed -nE 's/^ +-o ([a-z_]+)(=?).*/\1\2/p' "$T/help")
table_opts=$(grep -oE '(PKT_OPT|FUSE_OPT_KEY)\("[a-z_]+=?' "$SRC/fuse/options.c" | sed -E 's/.*\("//' | sort -u)
discarded=$(grep -oE 'FUSE_OPT_KEY\("[a-z_]+=?", FUSE_OPT_KEY_DISCARD' "$SRC/fuse/options.c" | sed -E 's/.*\("([^"]+)".*/\1/')
opts=$(printf '%s\n' $help_opts $table_opts | grep -vxF "$(printf '%s\n' $discarded)" | sort -u)
note "-o options: $(echo $opts)"
[ "$(wc -w <<< "$opts")" -ge 11 ] || fail "too few -o options found: $opts"
# (names compared without their '=': FUSE's help writes max_threads for max_threads=N)
complete_line "pktfuse -o " | sed 's/=$//' > "$T/o-names"
for o in $opts; do
	grep -qxF -- "${o%=}" "$T/o-names" || fail "'pktfuse -o ' does not offer '$o' (offers: $(tr '\n' ' ' < "$T/o-names"))"
done
expect_offered "pktfuse img mnt -o ro,dirty_" "ro,dirty_age=" "ro,dirty_high=" "ro,dirty_low="
# format's options: its --help
fmt_opts=$("$PKTFUSE" format --help | grep -oE '(^|[ ,])--[a-z-]+' | sed -E 's/^[ ,]//' | sort -u)
[ "$(wc -w <<< "$fmt_opts")" -ge 10 ] || fail "too few format options: $fmt_opts"
expect_offered "pktfuse format disc.img --" $fmt_opts
expect_offered "pktfuse format disc.img --media " $(sed -nE 's/.*--media ([a-z+|]+)\].*/\1/p' <("$PKTFUSE" format --help) | tr '|' ' ')
# emulator profiles: the emulator's own list, from its refusal of an unknown one
"$PKTFUSE" info "emu:no-such-profile:$T/x.img" 2> "$T/err" && fail "an unknown profile was accepted"
profiles=$(sed -nE 's/.*known: ([^)]*)\).*/\1/p' "$T/err" | tr -d ',')
[ "$(wc -w <<< "$profiles")" -ge 5 ] || fail "no list of profiles in: $(cat "$T/err")"
expect_offered "pktfuse emu:" $(for p in $profiles; do echo "$p:"; done)
# emu:PROFILE:IMAGE: the image's path after the profile (what follows the last ':' is replaced)
touch "$T/cd-image.img"
expect_offered "pktfuse emu:cdrw:$T/cd-im" "$T/cd-image.img"
# close: its options (its --help) and -o close='s values (the daemon's error names them)
close_opts=$("$PKTFUSE" close --help | grep -oE '(^|[ ,\[])--[a-z-]+' | sed -E 's/^[ ,[]//' | sort -u)
[ "$(wc -w <<< "$close_opts")" -ge 2 ] || fail "too few close options: $close_opts"
expect_offered "pktfuse close disc.img --" $close_opts
"$PKTFUSE" "$T/x.img" "$T" -o close=bogus 2> "$T/err" && fail "-o close=bogus was accepted"
close_values=$(sed -nE 's/.*\(expected ([a-z, ]+ or [a-z]+)\).*/\1/p' "$T/err" | sed 's/ or /, /' | tr -d ',')
[ "$(wc -w <<< "$close_values")" -ge 3 ] || fail "no list of -o close= values in: $(cat "$T/err")"
# (what follows the last = is replaced: the values alone)
expect_offered "pktfuse img mnt -o ro,close=" $close_values
expect_offered "pktfuse st" status
expect_offered "pktfuse status -" --raw
echo "PASS: the completion offers every subcommand, -o option, format option and emulator profile"
