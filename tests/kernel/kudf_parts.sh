# Several images in one kudf boot: the boot (seconds under TCG) is what a kernel test mostly costs,
# so a test that checks many images queues them and boots once.  Sourced after HERE=tests/kernel.
#   kparts_init DIR      scratch directory (the test's own) for the copies, the disk and the output
#   kparts_add IMG       queues a copy of IMG as it is now (the test may change IMG afterwards) and
#                        sets KPART to its partition number (1, 2, ...)
#   kparts_boot BODY     one boot over the queued images (gpt_disk.py: one partition each, exactly its
#                        size): BODY, a guest script written for one image, runs once per partition in
#                        a subshell with KUDF_DEV naming the partition (/dev/vda1, ...).  Returns
#                        kudf.sh's status (2 with "kudf: cannot" in $KPARTS_DIR/err: no kernel).
#   kparts_out N         what BODY printed for partition N
#   kparts_rc N          BODY's exit status on partition N (empty: it did not finish)
#   kparts_extract N OUT copies partition N out as the guest left it
# and for the tests that compare the kernel's listing of each image with the engine's:
#   kparts_want WANT WHAT IMG  queues IMG (as kparts_add), whose tree must list as the corpus
#                        manifest WANT says (WHAT names it in messages)
#   kparts_lists         one boot with manifest_guest.sh over the queued images; each that the kernel
#                        cannot mount or lists otherwise is reported through the caller's problem();
#                        exits 77 (SKIP) when Debian's kernel is not available
kparts_init() {
	KPARTS_DIR=$1
	_kparts_imgs=() _kparts_what=()
}
kparts_add() {
	local copy=$KPARTS_DIR/part$((${#_kparts_imgs[@]} + 1)).img
	cp --sparse=always "$1" "$copy"
	_kparts_imgs+=("$copy")
	KPART=${#_kparts_imgs[@]}
}
kparts_boot() {
	local rc=0
	python3 "$HERE/gpt_disk.py" build "$KPARTS_DIR/disk" "${_kparts_imgs[@]}"
	rm -f "${_kparts_imgs[@]}"
	{ echo "KPARTS_COUNT=${#_kparts_imgs[@]}"; echo 'kparts_body() {'; cat "$1"; echo '}'
		cat "$HERE/parts_guest.sh"; } > "$KPARTS_DIR/guest.sh"
	_kparts_imgs=()
	bash "$HERE/kudf.sh" "$KPARTS_DIR/disk" "$KPARTS_DIR/guest.sh" > "$KPARTS_DIR/out" 2> "$KPARTS_DIR/err" || rc=$?
	return $rc
}
kparts_out() {
	awk -v b="=== PART $1 begin" -v e="=== PART $1 exit " '$0 == b { f = 1; next } index($0, e) == 1 { f = 0 } f' "$KPARTS_DIR/out"
}
kparts_rc() {
	sed -n "s/^=== PART $1 exit \([0-9]*\)\$/\1/p" "$KPARTS_DIR/out"
}
kparts_extract() {
	python3 "$HERE/gpt_disk.py" extract "$KPARTS_DIR/disk" "$1" "$2"
}
kparts_want() {
	cp "$1" "$KPARTS_DIR/want$((${#_kparts_imgs[@]} + 1))"
	kparts_add "$3"
	_kparts_what[KPART]=$2
}
kparts_lists() {
	local n rc=0 got=$KPARTS_DIR/got
	[ "${#_kparts_what[@]}" -gt 0 ] || return 0
	kparts_boot "$HERE/manifest_guest.sh" || rc=$?
	if [ "$rc" -ne 0 ]; then
		grep -q "kudf: cannot" "$KPARTS_DIR/err" && { cat "$KPARTS_DIR/err"; echo "SKIP: Debian's kernel is not available"; exit 77; }
		tail -5 "$KPARTS_DIR/out" "$KPARTS_DIR/err"
		problem "the kernel did not boot over the ${#_kparts_what[@]} images (exit $rc)"
		return 0
	fi
	for n in "${!_kparts_what[@]}"; do
		kparts_out "$n" > "$got"
		rc=$(kparts_rc "$n")
		if [ "$rc" != 0 ]; then
			tail -5 "$got"
			problem "${_kparts_what[n]}: the kernel cannot mount it (guest exit ${rc:-none})"
		elif diff -u "$KPARTS_DIR/want$n" "$got" > "$KPARTS_DIR/diff"; then
			echo "ok: ${_kparts_what[n]}: the kernel lists all $(wc -l < "$got") entries as pktfuse wrote them"
		else
			head -30 "$KPARTS_DIR/diff"
			problem "${_kparts_what[n]}: the kernel sees another tree"
		fi
	done
	_kparts_what=()
}
