# Runs inside the kudf guest after rich_list.sh (the caller concatenates the two).  For each partition
# /dev/vda1, /dev/vda2, ... of a disk made by gpt_disk.py: mounts it as a person does, with no options
# (`mount -t udf DEV DIR`: read-write, and when the kernel refuses that with EACCES or EROFS busybox's
# mount, like util-linux's, says so and mounts read-only), then prints
#   === PART N mounted rw   or   === PART N mounted ro   followed by what mount said,
#   === PART N before       followed by the tree,
#   === PART N wrote        the kernel wrote new files (4 MiB in 8 files, 40 small ones), or
#   === PART N write-refused  followed by the first errors (a read-only mount),
#   === PART N after        followed by the tree as the kernel left it (mounted again read-only);
#   === PART N nomount      followed by the kernel's last messages.
kernel_writes() {
	mkdir kcrash || return 1
	i=0
	while [ $i -lt 8 ]; do
		dd if=/dev/urandom of=kcrash/big$i bs=65536 count=8 2> /dev/null || return 1
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 40 ]; do
		echo "written by the kernel after the crash $i" > kcrash/small$i || return 1
		i=$((i + 1))
	done
	echo "the kernel in d" > d/kernel
}

mkdir -p /mnt
n=1
while [ -b /dev/vda$n ]; do
	if ! mount -t udf /dev/vda$n /mnt > /mount.out 2>&1; then
		echo "=== PART $n nomount"
		cat /mount.out
		dmesg | tail -5
		n=$((n + 1))
		continue
	fi
	if grep -q ' /mnt udf rw' /proc/mounts; then echo "=== PART $n mounted rw"; else echo "=== PART $n mounted ro"; fi
	cat /mount.out
	# read-only: does the kernel refuse to write it (EACCES: UDF_FLAG_RW_INCOMPAT), or was it asked to?
	if ! grep -q ' /mnt udf rw' /proc/mounts; then
		mount -o remount,rw /mnt > /remount.out 2>&1
		echo "=== PART $n remount-rw exit $?"
		cat /remount.out
		grep -q ' /mnt udf rw' /proc/mounts && echo "=== PART $n remounted rw"
	fi
	echo "=== PART $n before"
	rich_list /mnt
	if (cd /mnt && kernel_writes) > /writes.log 2>&1; then
		echo "=== PART $n wrote"
	else
		echo "=== PART $n write-refused"
		head -3 /writes.log
	fi
	sync
	umount /mnt || echo "=== PART $n umount-failed"
	if mount -t udf -o ro /dev/vda$n /mnt; then
		echo "=== PART $n after"
		rich_list /mnt
		umount /mnt
	else
		echo "=== PART $n remount-failed"
		dmesg | tail -5
	fi
	n=$((n + 1))
done
[ "$n" -gt 1 ] || { echo "no partitions on /dev/vda"; exit 3; }
exit 0
