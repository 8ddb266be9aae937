#!/usr/bin/env bash
# Bad input: a one-line error that names the problem, a non-zero exit, and an untouched image.
. "$(dirname "$0")/lib.sh"
need_root

"$PATTERN" bad 4194304 > "$T/img"
before=$(sha256sum < "$T/img")
mkdir -p "$T/mnt"

# expect_error WORDS… -- ARGS…: pktfuse ARGS must fail with exactly one line containing WORDS
expect_error() {
	local words=() out rc mounts
	mounts=$(grep -c "$T" /proc/mounts || true)
	while [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	set +e
	out=$(timeout 20 "$PKTFUSE" "$@" 2>&1 </dev/null)
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "pktfuse $* succeeded"
	[ "$rc" -ne 124 ] || fail "pktfuse $* hung"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "pktfuse $* printed more than one line: $out"
	for w in "${words[@]}"; do
		grep -qi -- "$w" <<< "$out" || fail "pktfuse $*: message lacks '$w': $out"
	done
	note "pktfuse $* → $out"
	[ "$(grep -c "$T" /proc/mounts || true)" = "$mounts" ] || fail "pktfuse $* left a mount behind"
}

expect_error "No such file" "$T/missing.img" -- "$T/missing.img" "$T/mnt"
truncate -s 10001 "$T/odd.img"
expect_error "multiple of 2048" -- "$T/odd.img" "$T/mnt"
: > "$T/empty.img"
expect_error "multiple of 2048" -- "$T/empty.img" "$T/mnt"
expect_error "directory" -- "$T" "$T/mnt"
expect_error "packet" -- "$T/img" "$T/mnt" -o packet=0
expect_error "packet" -- "$T/img" "$T/mnt" -o packet=abc
expect_error "packet" -- "$T/img" "$T/mnt" -o packet=4096
expect_error "cache" -- "$T/img" "$T/mnt" -o cache=lots
expect_error "cache" -- "$T/img" "$T/mnt" -o cache=1K
expect_error "dirty_age" -- "$T/img" "$T/mnt" -o dirty_age=-1
expect_error "dirty_low" -- "$T/img" "$T/mnt" -o dirty_high=40,dirty_low=60
expect_error "not a directory" -- "$T/img" "$T/img"
expect_error "mount" "No such file" -- "$T/img" "$T/nowhere"
expect_error "MOUNTPOINT" -- "$T/img"
expect_error "SOURCE" --
expect_error "not a pktfuse mount" -- status "$T"

# A second daemon on the same image.
start_pktfuse "$T/img" "$T/mnt" -o image
mkdir -p "$T/mnt2"
expect_error "in use" -- "$T/img" "$T/mnt2"
stop_pktfuse "$T/mnt"

# The image was never written: nothing asked for a write.
[ "$(sha256sum < "$T/img")" = "$before" ] || fail "the image changed"

# A read-only file is refused for writing with a hint, and served with -o ro.
chmod 444 "$T/img"
if [ "$(id -u)" -ne 0 ]; then
	expect_error "ro" -- "$T/img" "$T/mnt"
fi
start_pktfuse "$T/img" "$T/mnt" -o image,ro
if dd if=/dev/zero of="$T/mnt/disc" bs=2048 count=1 conv=notrunc 2>/dev/null; then fail "wrote to a read-only mount"; fi
cmp -n 65536 "$T/mnt/disc" "$T/img" || fail "read-only mount reads wrong data"
stop_pktfuse "$T/mnt"
[ "$(sha256sum < "$T/img")" = "$before" ] || fail "the image changed"
# Help: the files view is writable; format's options on request (exit 0), allow_root documented.
"$PKTFUSE" --help > "$T/help" || fail "pktfuse --help failed"
grep -q "read-only for now" "$T/help" && fail "--help still calls the files view read-only"
grep -q "allow_root" "$T/help" && grep -q "user_allow_other" "$T/help" || fail "--help lacks allow_root/user_allow_other"
for h in --help -h; do
	"$PKTFUSE" format "$h" > "$T/fhelp" 2> "$T/err" || fail "pktfuse format $h failed: $(cat "$T/err")"
	for w in --quick --force --no-udf --label --uid --mode --revision --media; do
		grep -q -- "$w" "$T/fhelp" || fail "pktfuse format $h does not describe $w"
	done
done
echo "PASS: bad input"
