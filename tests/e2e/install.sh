#!/usr/bin/env bash
# `cmake --install` puts the binary, the man page, the bash completion and the udev rule in their
# conventional places, under the prefix and DESTDIR (a staged install: nothing outside the test's
# directory is written but the build directory's install_manifest.txt).
. "$(dirname "$0")/lib.sh"
BUILD=$(cd "$(dirname "$PKTFUSE")/.." && pwd)
[ -f "$BUILD/CMakeCache.txt" ] || fail "no build directory above $PKTFUSE"
# the completion's directory: bash-completion's own (relative to its prefix) when pkg-config knows it
comp=share/bash-completion/completions
if pkg-config --exists bash-completion 2> /dev/null; then
	d=$(pkg-config --variable=completionsdir bash-completion) p=$(pkg-config --variable=prefix bash-completion)
	[[ $d == "$p"/* ]] && comp=${d#"$p"/}
fi
for prefix in /usr/local /usr; do
	R="$T/root$prefix"
	DESTDIR="$T/root" cmake --install "$BUILD" --prefix "$prefix" > "$T/log" 2>&1 || fail "cmake --install: $(cat "$T/log")"
	[ -x "$R/bin/pktfuse" ] || fail "no executable $R/bin/pktfuse"
	"$R/bin/pktfuse" --version > "$T/version" || fail "the installed binary does not run"
	grep -q '^pktfuse version ' "$T/version" || fail "the installed binary says: $(cat "$T/version")"
	cmp "$R/share/man/man1/pktfuse.1" "$(dirname "$0")/../../docs/pktfuse.1" || fail "man page not at share/man/man1"
	[ -f "$R/$comp/pktfuse" ] || fail "no bash completion at $R/$comp/pktfuse"
	bash -c '. "$1" && complete -p pktfuse' _ "$R/$comp/pktfuse" > "$T/complete" || fail "sourcing the completion"
	grep -q -- '-F _pktfuse pktfuse' "$T/complete" ||
		fail "the installed completion does not register for pktfuse"
	rule="$R/lib/udev/rules.d/60-pktfuse.rules"
	[ -f "$rule" ] || fail "no udev rule at $rule"
	grep -qE '^SUBSYSTEM=="scsi_generic", .*ATTRS\{type\}=="5", GROUP="cdrom", MODE="0660"$' "$rule" ||
		fail "the udev rule does not give optical drives' sg nodes to cdrom: $(grep -v '^#' "$rule")"
	# nothing else: four files
	[ "$(find "$T/root$prefix" -type f | wc -l)" = 4 ] || fail "installed: $(find "$T/root$prefix" -type f)"
	note "$prefix: $(cd "$T/root" && find . -type f | sort | tr '\n' ' ')"
	rm -rf "$T/root"
done
echo "PASS: cmake --install: bin, man1, bash completion, udev rule, under the prefix and DESTDIR"
