# Functions of the tests where pktfuse and the Linux udf driver (Debian's kernel under qemu,
# kudf.sh) write each other's file systems: kernel_roundtrip.sh and kernel_matrix.sh.  Sourced
# after tests/e2e/lib.sh and tests/udf/rwlib.sh, with HERE naming tests/kernel.

# kudf_run DISK GUEST_BODY OUT: one boot over DISK with rich_list.sh + GUEST_BODY (after
# KUDF_GUEST_VARS, shell assignments the guest body reads, where set)
kudf_run() {
	{ cat "$HERE/rich_list.sh"; printf '%s\n' "${KUDF_GUEST_VARS:-}"; cat "$2"; } > "$T/guest.sh"
	local rc=0
	bash "$HERE/kudf.sh" "$1" "$T/guest.sh" > "$3" 2> "$3.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		if grep -q "kudf: cannot" "$3.err"; then
			cat "$3.err"
			echo "SKIP: Debian's kernel is not available"
			exit $SKIP
		fi
		tail -20 "$3" "$3.err"
		fail "the guest failed (exit $rc)"
	fi
	grep -E '^=== PART [0-9]+ (nomount|mounted-ro|change-failed|umount-failed|remount-failed)' "$3" > "$T/marks" || true
	if [ -s "$T/marks" ]; then
		cat "$T/marks"
		sed -n '/^=== PART [0-9]* \(nomount\|change-failed\)/,/^=== /p' "$3" | head -20
	fi
}

# section OUT N WHICH: the listing printed after "=== PART N WHICH"
section() {
	awk -v h="=== PART $2 $3" '$0 == h { f = 1; next } /^=== PART / { f = 0 } f' "$1"
}

# to_corpus: rich_list lines → the corpus manifest format that udf_manifest prints
to_corpus() {
	awk -F'|' '{
		split($3, a, " ")
		if ($1 == "D") print "D|" $2 "|" a[1] " " a[2] " " a[3]
		else if ($1 == "P") print "P|" $2 "|" a[1]
		else if ($1 == "C") printf "?|%s|2%04d\n", $2, a[1]
		else if ($1 == "B") printf "?|%s|6%04d\n", $2, a[1]
		else print
	}'
}

# pktfuse_reads IMG WANT WHAT: the files view and udf_manifest show exactly WANT (a rich_list)
pktfuse_reads() {
	local img=$1 want=$2 what=$3
	if ! "$PKTFUSE" "$img" "$T/mnt" 2> "$T/err"; then
		problem "$what: pktfuse cannot mount: $(cat "$T/err")"
		return
	fi
	_mounts+=("$T/mnt")
	rich_list "$T/mnt" > "$T/got"
	"$PKTFUSE" umount "$T/mnt"
	diff -u "$want" "$T/got" > "$T/diff" || { head -30 "$T/diff"; problem "$what: the files view differs from the kernel"; }
	"$UDF_MANIFEST" "$img" > "$T/engine" 2> "$T/err" || problem "$what: udf_manifest: $(head -3 "$T/err")"
	to_corpus < "$want" > "$T/want.corpus"
	diff -u "$T/want.corpus" "$T/engine" > "$T/diff" || { head -30 "$T/diff"; problem "$what: udf_manifest differs from the kernel"; }
}

# pktfuse_writes IMG MEDIA SEED WANT: writes the rwlib tree (and device nodes) through the files
# view; WANT gets pktfuse's own listing of it
pktfuse_writes() {
	local img=$1 media=$2 seed=$3 want=$4
	: > "$want"
	if ! "$PKTFUSE" "$img" "$T/mnt" -o "$(packet_opt "$media")" 2> "$T/err"; then
		problem "$img: pktfuse cannot mount: $(cat "$T/err")"
		return 1
	fi
	_mounts+=("$T/mnt")
	local ok=1
	if ! (write_tree "$T/mnt" "$seed") 2> "$T/err"; then
		problem "$(basename "$img"): pktfuse could not write the tree: $(head -3 "$T/err")"
		ok=0
	fi
	# device nodes (the kernel shows their numbers from the device specification)
	if ! (mknod "$T/mnt/special/null" c 1 3 && mknod -m 640 "$T/mnt/special/loop7" b 7 7 &&
		chown 0:6 "$T/mnt/special/loop7") 2> "$T/err"; then
		problem "$(basename "$img"): pktfuse could not make device nodes: $(head -3 "$T/err")"
	fi
	rich_list "$T/mnt" > "$want"
	"$PKTFUSE" umount "$T/mnt"
	[ "$ok" = 1 ] || return 1
	(check_udfinfo "$img" "$(basename "$img") written by pktfuse") > /dev/null || problem "$(basename "$img"): udfinfo after pktfuse wrote"
}

# pktfuse_changes IMG: pktfuse changes a tree the kernel wrote; WANT gets its listing
pktfuse_changes() {
	local img=$1 want=$2
	: > "$want"
	"$PKTFUSE" "$img" "$T/mnt" 2> "$T/err" || { problem "$img: pktfuse cannot mount: $(cat "$T/err")"; return; }
	_mounts+=("$T/mnt")
	if ! (set -e; cd "$T/mnt"
		"$PATTERN" pk-append 100000 >> kdir/seq.txt
		rm kdir/sub1/f1 kdir/sub1/f100 kdir/rand3m
		for i in $(seq 1 150); do echo "pktfuse after kernel $i" > "kdir/sub1/p$i"; done
		mv kdir/sub1 kdir/sub1-renamed
		mv kdir/small.txt kdir/empty/
		"$PATTERN" pk-big 2500000 > kdir/new-big
		truncate -s 12345 kdir/seq-hard
		chmod 640 kdir/seq.txt
		chown 77:88 kdir/new-big
		rm kdir/fifo kdir/null
		ln -s sub1-renamed/f2 kdir/new-link
		mkdir -p "kdir/пакет/λ"
		touch -d @1234567890 kdir/new-big "kdir/пакет/λ" kdir/seq.txt
		if [ -d sizes ]; then rm -r nest/c-moved; mv kdir/"spaces in name" names/; fi) 2> "$T/err"; then
		problem "$(basename "$img"): pktfuse could not change the kernel's tree: $(head -3 "$T/err")"
	fi
	rich_list "$T/mnt" > "$want"
	"$PKTFUSE" umount "$T/mnt"
	(check_udfinfo "$img" "$(basename "$img") changed by pktfuse") > /dev/null || problem "$(basename "$img"): udfinfo after pktfuse changed it"
}

# make_image IMG "MEDIA REVISION BLOCK-SIZE [MAKER]": mkudffs (the default) or pktfuse format makes it
make_image() {
	local media rev bs maker
	read -r media rev bs maker <<< "$2"
	if [ "${maker:-mkudffs}" = pktfuse ]; then
		rm -f "$1"
		truncate -s 96M "$1"
		"$PKTFUSE" format "$1" --media "$media" --revision "$rev" --block-size "$bs" --uid 0 --gid 0 > /dev/null ||
			fail "pktfuse format $2 failed"
	else
		mk_udf "$1" 96M "$media" "$rev" "$bs"
	fi
}
