# Runs inside the kudf guest (busybox sh): mounts /dev/vda as udf and prints the tree in the corpus
# manifest format (shared/corpus/kernel-udf/README.md), sorted by path.
for o in ro ro,bs=512 ro,bs=1024 ro,bs=4096; do
	mount -t udf -o "$o" /dev/vda /mnt 2>/dev/null && break
done
grep -q " /mnt " /proc/mounts || exit 3
cd /mnt || exit 3
find . | sort | while IFS= read -r p; do
	if [ -L "$p" ]; then
		echo "L|$p|$(readlink "$p")"
	elif [ -d "$p" ]; then
		echo "D|$p|$(stat -c '%a %u %g' "$p")"
	elif [ -p "$p" ]; then
		echo "P|$p|$(stat -c '%a' "$p")"
	else
		echo "F|$p|$(stat -c '%s %a %u %g %Y %h' "$p")|$(sha256sum < "$p" | cut -c1-64)"
	fi
done
