# Runs inside the kudf guest after rich_list.sh (the caller concatenates the two).  For each
# partition /dev/vda1, /dev/vda2, ... of a disk made by gpt_disk.py: mounts it read-write as udf,
# prints "=== PART N before" and the tree, changes the tree the way people do (creates files and
# directories, appends, truncates, renames within and across directories and over existing names,
# deletes, chmod, chown, symlinks, hard links, a FIFO, a device node), unmounts, mounts read-only
# again and prints "=== PART N after" and the tree as the kernel left it on the disk.  Partitions
# named in READONLY_PARTS are only listed ("=== PART N kernel-ro" or "kernel-rw", then "before").
kernel_changes() {
	set -e
	mkdir -p kdir/sub1/sub2 kdir/empty
	seq 1 20000 > kdir/seq.txt
	dd if=/dev/urandom of=kdir/rand3m bs=1024 count=3075 2> /dev/null
	echo small > kdir/small.txt
	i=0
	while [ $i -lt "${KERNEL_FILES:-400}" ]; do # at least 101 (pktfuse_changes removes f100)
		echo "kernel file $i" > kdir/sub1/f$i
		i=$((i + 1))
	done
	rm kdir/sub1/f7
	mv kdir/sub1/f8 kdir/sub1/sub2/moved
	mv kdir/sub1/f9 kdir/sub1/f10
	ln -s ../seq.txt kdir/sub1/link
	ln -s /abs/dangling kdir/dangle
	ln kdir/seq.txt kdir/seq-hard
	mkfifo kdir/fifo
	mknod kdir/null c 1 3
	echo "ünïcode" > "kdir/ünï 語 λ"
	chmod 4750 kdir/small.txt
	chown 1000:100 kdir/small.txt
	touch -d '2001-02-03 04:05:06' kdir/seq.txt
	# the tree pktfuse wrote (tests/udf/rwlib.sh write_tree), where there is one
	if [ -d sizes ]; then
		echo "kernel appended" >> sizes/s2048
		dd if=/dev/urandom bs=1000 count=70 2> /dev/null >> sizes/s65536
		truncate -s 5000 nest/a/b/c/big6m
		rm -r many
		rm sizes/s0 links/hard-a
		mv "names/spaces in name" kdir/
		mv sizes/s1000 sizes/s2047
		rmdir empty
		chmod 600 sizes/s3145733
		mv nest/a/b/c nest/c-moved
		ln -s "../names/日本語のファイル.txt" kdir/link-unicode
		echo "written by the kernel" > "names/Ελληνικά"
		rm special/fifo
	fi
	set +e
}

mkdir -p /mnt
n=1
while [ -b /dev/vda$n ]; do
	ok=
	for o in rw rw,bs=512 rw,bs=1024 rw,bs=4096; do
		if mount -t udf -o "$o" /dev/vda$n /mnt 2> /dev/null; then ok=$o; break; fi
	done
	if [ -z "$ok" ]; then
		echo "=== PART $n nomount"
		dmesg | tail -5
		n=$((n + 1))
		continue
	fi
	# READONLY_PARTS (set by the caller): partitions the kernel must mount read-only although asked
	# to write (UDF 2.50/2.60: it writes no metadata partition); listed, never changed
	case " ${READONLY_PARTS:-} " in
	*" $n "*)
		if grep -q ' /mnt udf rw' /proc/mounts; then echo "=== PART $n kernel-rw"; else echo "=== PART $n kernel-ro"; fi
		echo "=== PART $n before"
		rich_list /mnt
		umount /mnt || echo "=== PART $n umount-failed"
		n=$((n + 1))
		continue
		;;
	esac
	grep -q ' /mnt udf rw' /proc/mounts || echo "=== PART $n mounted-ro"
	echo "=== PART $n before"
	rich_list /mnt
	# not as an if's condition: there sh ignores the set -e that stops kernel_changes at its first failure
	(cd /mnt && kernel_changes) > /changes.log 2>&1
	if [ $? -ne 0 ]; then
		echo "=== PART $n change-failed"
		cat /changes.log
	fi
	umount /mnt || echo "=== PART $n umount-failed"
	mount -t udf -o "ro${ok#rw}" /dev/vda$n /mnt || echo "=== PART $n remount-failed"
	echo "=== PART $n after"
	rich_list /mnt
	umount /mnt
	n=$((n + 1))
done
[ "$n" -gt 1 ] || { echo "no partitions on /dev/vda"; exit 3; }
exit 0
