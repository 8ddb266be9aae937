# Runs inside the kudf guest after rich_list.sh (the caller concatenates the two): for each partition
# /dev/vda1, /dev/vda2, ... of a disk made by gpt_disk.py, mounts it read-only as udf and prints
#   === PART N ok        followed by rich_list of it, or
#   === PART N nomount   followed by the kernel's last messages.
mkdir -p /mnt
n=1
while [ -b /dev/vda$n ]; do
	ok=
	for o in ro ro,bs=512 ro,bs=1024 ro,bs=4096; do
		if mount -t udf -o "$o" /dev/vda$n /mnt 2>/dev/null; then ok=1; break; fi
	done
	if [ -n "$ok" ]; then
		echo "=== PART $n ok"
		rich_list /mnt
		umount /mnt || echo "=== PART $n umount-failed"
	else
		echo "=== PART $n nomount"
		dmesg | tail -5
	fi
	n=$((n + 1))
done
[ "$n" -gt 1 ] || { echo "no partitions on /dev/vda"; exit 3; }
exit 0
