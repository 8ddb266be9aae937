#!/usr/bin/env bash
# kudf.sh IMAGE GUEST_SCRIPT: boots Debian 12's stock kernel (which has the udf module) under qemu
# with a busybox initramfs and IMAGE as the virtio disk /dev/vda, runs GUEST_SCRIPT there with sh,
# prints what it prints, and exits with its exit status.  The kernel package is fetched once with
# apt-get download and kept in $KUDF_CACHE.
set -euo pipefail
IMAGE=${1:?usage: kudf.sh IMAGE GUEST_SCRIPT}
GUEST=${2:?usage: kudf.sh IMAGE GUEST_SCRIPT}
CACHE=${KUDF_CACHE:-/var/tmp/pktfuse-kudf}
mkdir -p "$CACHE"

kernel_ready() { [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/modules.order" ]; }
# boots run side by side (kernel_matrix.sh) fill the cache once: the first takes the lock
exec 9> "$CACHE/.lock"
flock 9
if ! kernel_ready; then
	find_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
	pkg=$(find_pkg)
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; pkg=$(find_pkg); fi
	[ -n "$pkg" ] || { echo "kudf: cannot find Debian's kernel package (apt-get update?)" >&2; exit 2; }
	tmp=$(mktemp -d "$CACHE/x.XXXXXX")
	(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "kudf: cannot download $pkg" >&2; exit 2; }
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	cp "$tmp"/root/boot/vmlinuz-* "$CACHE/vmlinuz"
	moddir=$(echo "$tmp"/root/lib/modules/*)
	mkdir -p "$CACHE/modules"
	: > "$CACHE/modules.order.tmp"
	# load order: dependencies first (there is no modules.dep in the package)
	add_mod() {
		local name=$1 ko dep
		grep -qx "$name.ko" "$CACHE/modules.order.tmp" && return 0
		ko=$(find "$moddir" -name "$name.ko" -o -name "${name//_/-}.ko" | head -1)
		[ -n "$ko" ] || return 0 # built in
		for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do add_mod "$dep"; done
		cp "$ko" "$CACHE/modules/$name.ko"
		echo "$name.ko" >> "$CACHE/modules.order.tmp"
	}
	for m in virtio virtio_ring virtio_pci virtio_blk crc-itu-t udf; do add_mod "$m"; done
	mv "$CACHE/modules.order.tmp" "$CACHE/modules.order"
	rm -rf "$tmp"
fi
exec 9>&-
BUSYBOX=$(command -v busybox 2>/dev/null || true)
[ -n "$BUSYBOX" ] && file "$BUSYBOX" 2>/dev/null | grep -q static || BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "kudf: busybox-static is not installed" >&2; exit 2; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/root/bin" "$W/root/proc" "$W/root/sys" "$W/root/dev" "$W/root/mnt" "$W/root/modules"
cp "$BUSYBOX" "$W/root/bin/busybox"
cp "$CACHE"/modules/*.ko "$W/root/modules/"
cp "$CACHE/modules.order" "$W/root/modules.order"
cp "$GUEST" "$W/root/guest.sh"
cat > "$W/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /modules/$m 2>/dev/null; done
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
echo
echo KUDF-BEGIN
sh /guest.sh
echo "KUDF-EXIT=$?"
sync
reboot -f
INIT
chmod +x "$W/root/init"
(cd "$W/root" && find . | cpio -o -H newc --quiet | gzip -1 > "$W/initrd.gz")
run_qemu() {
	# The guest prints its exit marker, then asks for a reboot; some virtual machines never act on
	# that, so qemu is stopped as soon as the marker is there.
	: > "$W/console"
	qemu-system-x86_64 "$@" -m 512 -smp 1 -display none -monitor none -serial file:"$W/console" -no-reboot \
		-kernel "$CACHE/vmlinuz" -initrd "$W/initrd.gz" -append "console=ttyS0 panic=-1 quiet loglevel=3" \
		-drive file="$IMAGE",format=raw,if=virtio,cache=writethrough > "$W/qemu.log" 2>&1 &
	local qpid=$! waited=0
	while kill -0 "$qpid" 2>/dev/null; do
		if grep -q 'KUDF-EXIT=' "$W/console"; then sleep 0.5; break; fi
		sleep 0.2
		waited=$((waited + 1))
		[ "$waited" -lt $((${KUDF_TIMEOUT:-300} * 5)) ] || break
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
}
# Software emulation: KVM inside these virtual machines hangs or refuses CPU features, and a boot
# under TCG takes seconds.
run_qemu -accel tcg
tr -d '\r' < "$W/console" | sed 's/.*KUDF-BEGIN$/KUDF-BEGIN/' | sed -n '/^KUDF-BEGIN$/,$p' | sed '1d' > "$W/out"
status=$(sed -n 's/^KUDF-EXIT=\([0-9]*\)$/\1/p' "$W/out" | tail -1)
sed '/^KUDF-EXIT=/,$d' "$W/out"
if [ -z "$status" ]; then
	echo "kudf: the guest did not finish; console:" >&2
	tr -d '\r' < "$W/console" | tail -30 >&2
	exit 2
fi
exit "$status"
