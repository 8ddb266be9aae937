# Runs inside the kudf guest (busybox sh): the kernel mounts a freshly formatted /dev/vda (or
# $KUDF_DEV: kudf_parts.sh) as udf read-write, creates a file and a directory, and unmounts cleanly.
# Any complaint of the udf driver in the kernel log fails it.
dmesg -c > /dev/null 2>&1
mount -t udf -o rw "${KUDF_DEV:-/dev/vda}" /mnt || { echo "mount failed"; dmesg | tail -5; exit 3; }
grep " /mnt udf rw" /proc/mounts > /dev/null || { echo "not mounted read-write: $(grep ' /mnt ' /proc/mounts)"; dmesg | tail -5; exit 4; }
echo "free-before $(df -k /mnt | awk 'NR==2 {print $4}')"
mkdir /mnt/kdir || exit 5
echo "written by the kernel" > /mnt/kdir/kfile.txt || exit 5
echo "top" > /mnt/ktop.txt || exit 5
sync
ls -la /mnt /mnt/kdir
umount /mnt || { echo "umount failed"; exit 6; }
if dmesg | grep -i -E "udf|UDF-fs" | grep -v -i "mounting volume" | grep .; then
	echo "the udf driver complained"
	exit 7
fi
echo "kernel-ok"
exit 0
