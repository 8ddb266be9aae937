#!/usr/bin/env bash
# The kernel harness against known truth: Debian's stock kernel (udf module, under qemu) lists every
# corpus image exactly as its manifest says.  This is the reference that pktfuse-written images will
# be held to.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
. "$HERE/kudf_parts.sh"
kparts_init "$W"
names=()
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	gunzip -c "$gz" > "$W/img"
	kparts_add "$W/img"
	names+=("$name")
done
[ "${#names[@]}" -gt 0 ] || { echo "FAIL: no image checked"; exit 1; }
rc=0
kparts_boot "$HERE/manifest_guest.sh" || rc=$? # one boot for all images (kudf_parts.sh)
if [ "$rc" -ne 0 ]; then
	cat "$W/err"
	grep -q "kudf: cannot" "$W/err" && { echo "SKIP: Debian's kernel is not available"; exit 77; }
	cat "$W/out"; echo "FAIL: the guest failed"; exit 1
fi
for i in "${!names[@]}"; do
	name=${names[$i]}
	kparts_out $((i + 1)) > "$W/got"
	[ "$(kparts_rc $((i + 1)))" = 0 ] || { cat "$W/got"; echo "FAIL: $name: the guest failed"; exit 1; }
	diff -u "$CORPUS/$name.manifest" "$W/got" > "$W/diff" || { head -30 "$W/diff"; echo "FAIL: $name: the kernel sees a different tree"; exit 1; }
	echo "ok: $name: the kernel lists all $(wc -l < "$W/got") entries as the manifest says"
done
echo "PASS: the kernel harness reads ${#names[@]} corpus images exactly (one boot)"
