# Helpers of the UDF writer tests (sourced after tests/e2e/lib.sh): UDF images made by mkudffs, a
# varied tree written through any directory, listings, and the checks by independent readers
# (udfinfo, udfclient, pktfuse's engine through udf_manifest).
HERE_RW=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE_RW/../kernel/rich_list.sh"
UDF_MANIFEST=${UDF_MANIFEST:?UDF_MANIFEST must name the udf_manifest tool}

# problem MESSAGE: a failure that does not stop the test (the rest still runs); finish reports them
problems=()
problem() {
	echo "PROBLEM: $*" >&2
	problems+=("$*")
}
finish() { # finish PASS-MESSAGE
	if [ "${#problems[@]}" -gt 0 ]; then
		printf 'FAIL: %s\n' "${problems[@]}"
		exit 1
	fi
	echo "PASS: $*"
}

need_udftools() {
	command -v mkudffs > /dev/null && command -v udfinfo > /dev/null ||
		{ echo "SKIP: mkudffs/udfinfo (udftools) are not installed"; exit $SKIP; }
}

# mk_udf IMAGE SIZE MEDIA REV [BLOCKSIZE]: a fresh file system from mkudffs
mk_udf() {
	local img=$1 size=$2 media=$3 rev=$4 bs=${5:-2048}
	rm -f "$img"
	truncate -s "$size" "$img"
	mkudffs --media-type="$media" --udfrev="$rev" --blocksize="$bs" --label="T$media${rev/./}" "$img" \
		> "$img.mkudffs.log" 2>&1 || { cat "$img.mkudffs.log"; fail "mkudffs $media $rev b$bs failed"; }
}

# packet_opt MEDIA → the pktfuse -o options that match what mkudffs aligned its packets to
packet_opt() {
	case $1 in
	cdrw) echo "packet=32" ;;
	dvdrw) echo "packet=16" ;;
	*) echo "packet=32" ;;
	esac
}

# assert_rw MNT: the files view is mounted read-write (the kernel's view of it, and statfs)
assert_rw() {
	local opts
	opts=$(awk -v m="$(realpath "$1")" '$2 == m { print $4 }' /proc/mounts)
	[ -n "$opts" ] || fail "$1 is not mounted"
	case ",$opts," in *,ro,*) fail "$1 is mounted read-only ($opts)" ;; esac
	python3 -c 'import os, sys; sys.exit(os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY)' "$1" ||
		fail "$1: statfs says read-only"
}

# fsync_path PATH: fsync(2) of one file or directory (on the files view: everything written so far is
# on the medium)
fsync_path() {
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$1"
}

# corpus_list DIR: the corpus manifest format (what udf_manifest prints), built through a mount
corpus_list() {
	(cd "$1" && find . | LC_ALL=C sort | while IFS= read -r p; do
		if [ -L "$p" ]; then
			echo "L|$p|$(readlink "$p")"
		elif [ -d "$p" ]; then
			echo "D|$p|$(stat -c '%a %u %g' "$p")"
		elif [ -p "$p" ]; then
			echo "P|$p|$(stat -c '%a' "$p")"
		elif [ -f "$p" ]; then
			echo "F|$p|$(stat -c '%s %a %u %g %Y %h' "$p")|$(sha256sum < "$p" | cut -c1-64)"
		else
			echo "?|$p|$(printf '%o' "0x$(stat -c '%f' "$p")")"
		fi
	done)
}

# rep STRING N: STRING repeated N times
rep() {
	local s=$1 n=$2 out=
	while [ "$n" -gt 0 ]; do out+=$s; n=$((n - 1)); done
	printf '%s' "$out"
}

# The long and non-ASCII names of the tree.  In UDF a name is at most 255 bytes of CS0 including
# its compression byte: 254 characters of 8 bits (Latin-1) or 127 of 16 bits.  pktfuse also limits
# names to 254 bytes of UTF-8 (statfs f_namemax), the most Linux's udf driver reads back unmangled:
# each long name below is 254 bytes of UTF-8 (rw_posix.sh checks what lies beyond).
NAME_ASCII254=$(rep A 253)z
NAME_LATIN254=$(rep é 127)              # 127 Latin-1 characters: 8-bit CS0
NAME_CJK254=$(rep 語 84)ab               # 86 characters, some outside Latin-1: 16-bit CS0
NAME_GREEK254=$(rep λ 127)              # 127 characters outside Latin-1: the longest 16-bit name
UNICODE_NAMES=("ünïcødé" "日本語のファイル.txt" "Ελληνικά" "Кириллица и пробел" "mixed ü 語 €" \
	"spaces in name" ".hidden" "semi;colon#hash%pct&amp" 'back\slash' "quote'and\"dq" "a:b*c?d<e>f|g")

# write_tree DIR SEED: a varied tree, written with ordinary tools, followed by the changes an editor
# or a build makes (appends, truncates, deletes, renames).  Deterministic for a SEED, except ctime
# and atime; every mtime is set at the end, so two trees written from the same SEED list the same.
write_tree() {
	local d=$1 s=$2 i sz n
	mkdir -p "$d/nest/a/b/c/d/e/f/g/h" "$d/empty" "$d/nest/empty2" "$d/sizes" "$d/zero" "$d/many" \
		"$d/names" "$d/links" "$d/special" "$d/gone/sub"
	# sizes around the embedded limit (a file entry's free bytes), the block and the packet
	for sz in 0 1 100 1000 1400 1535 1536 1700 2047 2048 2049 4095 4096 4097 65535 65536 65537 131073 \
		200000 1048576 3145733; do
		"$PATTERN" "$s-size-$sz" "$sz" > "$d/sizes/s$sz"
	done
	"$PATTERN" "$s-big" 6291459 > "$d/nest/a/b/c/big6m"
	"$PATTERN" "$s-deep" 3000 > "$d/nest/a/b/c/d/e/f/g/h/deep-file"
	# zeros written, a file truncated up (a hole), holes between data
	head -c 2097152 /dev/zero > "$d/zero/zeros2m"
	truncate -s 3145728 "$d/zero/hole3m"
	"$PATTERN" "$s-hd" 70000 > "$d/zero/holes-between"
	"$PATTERN" "$s-ht" 5000 | dd of="$d/zero/holes-between" bs=1 seek=2000000 conv=notrunc status=none
	"$PATTERN" "$s-te" 10 | dd of="$d/zero/tail-data" bs=1 seek=1048576 status=none
	# a directory of many small files (more than one block of entries; MANY_FILES, at least 100:
	# some 4 KiB of entries)
	for i in $(seq -w 1 "${MANY_FILES:-300}"); do echo "small file $i of tree $s" > "$d/many/f$i"; done
	# names
	echo "254 ASCII bytes" > "$d/names/$NAME_ASCII254"
	echo "254 bytes, Latin-1" > "$d/names/$NAME_LATIN254"
	echo "254 bytes, CJK" > "$d/names/$NAME_CJK254"
	echo "127 Greek letters" > "$d/names/$NAME_GREEK254"
	mkdir "$d/names/dir-$(rep 語 40)"
	n=0
	for i in "${UNICODE_NAMES[@]}"; do
		n=$((n + 1))
		"$PATTERN" "$s-name-$n" $((n * 700)) > "$d/names/$i"
	done
	mkdir "$d/names/目录 ü"
	echo inside > "$d/names/目录 ü/файл"
	# symbolic links
	ln -s /etc/passwd "$d/links/absolute"
	ln -s ../sizes/s2048 "$d/links/relative"
	ln -s ../nest/a "$d/links/to-dir"
	ln -s /no/such/target/anywhere "$d/links/dangling"
	ln -s ./../links/./relative "$d/links/dots"
	ln -s "../names/日本語のファイル.txt" "$d/links/unicode-target"
	# LONG_LINK_COMPONENTS: fewer where the block is smaller (a symlink is at most one block, as in
	# Linux's udf: 28 fit 512 bytes, the default 60 need 1028)
	ln -s "$(for i in $(seq 1 "${LONG_LINK_COMPONENTS:-60}"); do printf 'component-%02d/' "$i"; done)end" "$d/links/long-target"
	ln -s "$NAME_ASCII254" "$d/names/link-to-longest"
	# hard links: three names of one file in three directories
	"$PATTERN" "$s-hard" 5000 > "$d/links/hard-a"
	ln "$d/links/hard-a" "$d/nest/hard-b"
	ln "$d/links/hard-a" "$d/many/hard-c"
	# FIFOs
	mkfifo "$d/special/fifo"
	mkfifo -m 600 "$d/nest/a/fifo-600"
	# modes and owners
	chmod 600 "$d/sizes/s100"
	chmod 755 "$d/sizes/s1000"
	chmod 4755 "$d/sizes/s1400"
	chmod 2711 "$d/sizes/s1535"
	chmod 0 "$d/sizes/s1536"
	chmod 444 "$d/sizes/s1700"
	chmod 1777 "$d/empty"
	chmod 700 "$d/nest/a/b"
	chown 1234:5678 "$d/sizes/s4096"
	chown 65534:65534 "$d/nest/a/b/c"
	chown 0:4321 "$d/special/fifo"
	# what happens to files after they are written
	"$PATTERN" "$s-append" 70000 >> "$d/sizes/s65537"
	echo "appended line" >> "$d/sizes/s1"
	truncate -s 3000 "$d/sizes/s131073"
	truncate -s 100000 "$d/sizes/s100"
	truncate -s 0 "$d/sizes/s2049"
	rm "$d/sizes/s4097" "$d/many/f013"
	mv "$d/many/f020" "$d/nest/a/b/moved-from-many"
	mv "$d/many/f021" "$d/many/f022"
	mv "$d/nest/empty2" "$d/nest/a/empty2-moved"
	mv "$d/gone/sub" "$d/nest/sub-moved"
	rmdir "$d/gone"
	"$PATTERN" "$s-over" 9000 > "$d/zero/overwrite"
	"$PATTERN" "$s-over2" 4000 | dd of="$d/zero/overwrite" bs=1 seek=3000 conv=notrunc status=none
	# times: distinct, some with microseconds (UDF keeps microseconds); directories last, children before parents
	n=0
	while IFS= read -r -d '' i; do
		n=$((n + 1))
		touch -h -d "@$((1000000000 + n * 3607)).$(printf '%06d' $((n * 7919 % 1000000)))" "$i"
	done < <(find "$d" -mindepth 1 ! -type d -print0 | LC_ALL=C sort -z)
	while IFS= read -r -d '' i; do
		n=$((n + 1))
		touch -d "@$((1100000000 + n * 86413))" "$i"
	done < <(find "$d" -type d -print0 | LC_ALL=C sort -rz)
}

# used_data_blocks DIR BLOCKSIZE: blocks that the regular files' non-zero data needs at least (each
# inode once; files written only as zeros or holes may be stored sparse and are left out)
used_data_blocks() {
	(cd "$1" && find . -type f ! -path './zero/*' -printf '%i %s\n' | sort -u -k1,1 |
		awk -v bs="$2" '{ b += int(($2 + bs - 1) / bs) } END { print b + 0 }')
}

# check_udfinfo IMAGE WHAT: udfinfo accepts the image, finds it closed, and agrees with pktfuse's
# engine on the free space and the file and directory counts; prints "free used" on success.
check_udfinfo() {
	local img=$1 what=$2 out ours k
	out=$(udfinfo "$img" 2>&1) || { echo "$out" | tail -5; fail "$what: udfinfo rejects the image"; }
	grep -qx 'integrity=closed' <<< "$out" || fail "$what: the integrity descriptor is not closed: $(echo "$out" | grep integrity)"
	ours=$("$UDF_MANIFEST" --statfs "$img") || fail "$what: pktfuse's engine cannot mount the image"
	for k in freeblocks numfiles numdirs; do
		[ "$(echo "$out" | awk -F= -v k=$k '$1 == k { print $2 }')" = "$(echo "$ours" | awk -F= -v k=$k '$1 == k { print $2 }')" ] ||
			fail "$what: udfinfo says $(echo "$out" | grep "^$k=") but pktfuse says $(echo "$ours" | grep "^$k=")"
	done
	echo "$out" | awk -F= '$1 == "freeblocks" { f = $2 } $1 == "usedblocks" { u = $2 } END { print f, u }'
}

# check_counts IMAGE DIR WHAT [HIDDEN]: the LVID's file and directory counts match the tree at DIR (the
# kernel's rule: every non-directory file entry is a file, each once however many links it has) and
# HIDDEN files no mount lists (UDF 1.50's Non-Allocatable Space file in the root of mkudffs's
# sparable images: a file, which mkudffs, the kernel and pktfuse's check count)
check_counts() {
	local img=$1 dir=$2 what=$3 hidden=${4:-0} files dirs st
	dirs=$(find "$dir" -type d | wc -l)
	files=$(($(find "$dir" ! -type d -printf '%i\n' | sort -u | wc -l) + hidden))
	st=$("$UDF_MANIFEST" --statfs "$img")
	grep -qx "numdirs=$dirs" <<< "$st" || fail "$what: LVID $(echo "$st" | grep numdirs), the tree has $dirs directories"
	grep -qx "numfiles=$files" <<< "$st" || fail "$what: LVID $(echo "$st" | grep numfiles), the tree has $files files"
}

# check_udfclient IMAGE BLOCKSIZE CORPUS_LIST WHAT: udfclient (an independent UDF implementation)
# opens the image and extracts every regular file whose path it can handle (plain ASCII, no
# spaces) with the bytes CORPUS_LIST says; prints how many.
check_udfclient() {
	local img=$1 bs=$2 list=$3 what=$4 w vol i last dir file n
	command -v udfclient > /dev/null || { echo "udfclient not installed: skipped"; return 0; }
	w=$(mktemp -d "$T/uc.XXXXXX")
	vol=$(printf 'ls\nquit\n' | udfclient -b "$bs" "$img" 2> /dev/null | awk '/^d/ && $5 != "." && $5 != ".." {print $5; exit}')
	[ -n "$vol" ] || fail "$what: udfclient shows no volume"
	: > "$w/cmds"
	: > "$w/want"
	i=0
	last=
	while IFS='|' read -r _ path _ sha; do
		dir=$(dirname "${path#./}")
		file=$(basename "$path")
		if [ "$dir" != "$last" ]; then
			i=$((i + 1))
			mkdir -p "$w/out/$i"
			printf 'lcd %s\ncd /%s/%s\n' "$w/out/$i" "$vol" "$([ "$dir" = . ] || echo "$dir")" >> "$w/cmds"
			last=$dir
		fi
		printf 'get %s\n' "$file" >> "$w/cmds"
		printf '%s  %s\n' "$sha" "$w/out/$i/$file" >> "$w/want"
	done < <(grep '^F|' "$list" | LC_ALL=C grep -E '^F\|\./[A-Za-z0-9._/-]+\|')
	printf 'quit\n' >> "$w/cmds"
	timeout 300 udfclient -b "$bs" "$img" < "$w/cmds" > "$w/log" 2>&1 || { tail -20 "$w/log"; fail "$what: udfclient failed"; }
	n=$(wc -l < "$w/want")
	[ "$n" -gt 50 ] || fail "$what: only $n files to compare with udfclient"
	sha256sum --quiet -c "$w/want" > "$w/bad" 2>&1 || { head "$w/bad"; fail "$what: udfclient extracted different bytes"; }
	rm -rf "$w"
	echo "$n"
}
