# Runs inside the kudf guest after the lines tests/kernel/kudf_parts.sh puts first (KPARTS_COUNT, and
# the function kparts_body: a one-image guest script): kparts_body once per partition of the disk,
# in a subshell with KUDF_DEV=/dev/vdaN, between the lines "=== PART N begin" and "=== PART N exit
# STATUS".  A partition whose device never appears is "=== PART N missing".
mkdir -p /mnt
n=1
while [ "$n" -le "$KPARTS_COUNT" ]; do
	i=0
	while [ ! -b /dev/vda$n ] && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	if [ -b /dev/vda$n ]; then
		echo "=== PART $n begin"
		(KUDF_DEV=/dev/vda$n; kparts_body)
		echo "=== PART $n exit $?"
		# what a body left mounted must not answer for the next partition
		while grep -q ' /mnt ' /proc/mounts; do umount /mnt || break; done
	else
		echo "=== PART $n missing"
	fi
	n=$((n + 1))
done
exit 0
