# Runs inside the kudf guest (busybox sh), after a line "SEED=N" that make_corpus.sh puts first:
# mounts /dev/vda (a fresh mkudffs image) read-write as udf and has the kernel write a varied tree
# onto it, unmounts, then (manifest_guest.sh, appended by make_corpus.sh) lists what the kernel left.
# The first line printed is "KERNEL=<uname -r>"; a failure prints the log and exits non-zero.
echo "KERNEL=$(uname -r)"

# text SIZE TAG: SIZE bytes of numbered lines naming TAG, so that a block read from the wrong place
# never matches, yet gzip packs the image small
text() {
	seq 1 $(($1 / 20 + 2)) | sed "s|.*|$2 & ------------------------|" | head -c "$1"
}

write_tree() {
	set -e
	mkdir -p docs/deep/deeper/deepest empty "中文目录" "dir with spaces" many moved-here
	for s in 0 1 100 511 512 513 1000 1500 2047 2048 2049 4095 4096 4097 65535 65536 65537 $((SEED * 777 + 1234)); do
		text "$s" "size-$s-s$SEED" > "docs/size-$s.bin"
	done
	dd if=/dev/urandom of=docs/random-70000.bin bs=1000 count=70 2> /dev/null
	text $((1048576 + SEED * 12345)) "big-s$SEED" > docs/deep/deeper/deepest/big.txt
	# two files grown in turns: their extents interleave on the disc
	i=0
	while [ $i -lt 24 ]; do
		text 5000 "frag-a-$i" >> docs/frag-a.txt
		sync
		text 7000 "frag-b-$i" >> docs/frag-b.txt
		sync
		i=$((i + 1))
	done
	# a file shrunk, a file grown past its end (a hole), a file appended to after others were written
	text 100000 shrink > docs/shrunk.txt
	truncate -s 5000 docs/shrunk.txt
	text 3000 hole > docs/hole.bin
	truncate -s 300000 docs/hole.bin
	echo "appended later" >> docs/size-65536.bin
	echo "a long name" > "docs/$(printf '%0202d' 0 | tr 0 L)"
	echo "spaces" > "dir with spaces/a file with spaces.txt"
	echo "ünïcode" > "中文目录/ünïcode λ.txt"
	echo "日本語" > "中文目录/日本語のファイル.txt"
	i=0
	while [ $i -lt $((250 + SEED * 10)) ]; do
		echo "many $i s$SEED" > "many/file-$i"
		i=$((i + 1))
	done
	rm many/file-7 many/file-8
	mv many/file-9 moved-here/file-9
	mv many/file-10 many/file-11
	text 20000 deleted > docs/deleted.bin
	rm docs/deleted.bin
	ln docs/size-1000.bin hardlink.bin
	ln -s docs/size-100.bin link-to-file
	ln -s "中文目录" link-to-dir
	ln -s /absolute/target/that/does/not/exist dangling
	mkfifo fifo
	chmod 1777 empty
	chmod 600 docs/size-0.bin
	chmod 4755 docs/size-1.bin
	chmod 700 docs/deep
	chown 1234:5678 docs/size-100.bin
	chown 1000:100 "dir with spaces"
	touch -d '2001-02-03 04:05:06' docs/size-2048.bin
	set +e
}

for o in rw rw,bs=512 rw,bs=1024 rw,bs=4096; do
	mount -t udf -o "$o,noatime" /dev/vda /mnt 2> /dev/null && break
done
grep -q ' /mnt udf rw' /proc/mounts || { echo "the image does not mount read-write"; dmesg | tail -5; exit 3; }
if ! (cd /mnt && write_tree) > /write.log 2>&1; then
	echo "writing the tree failed:"
	cat /write.log
	exit 4
fi
umount /mnt || { echo "umount failed"; exit 5; }
