# Runs inside the kudf guest (busybox sh): mounts /dev/vda (or $KUDF_DEV: kudf_parts.sh) as udf and
# prints the tree in the corpus manifest format (shared/corpus/kernel-udf/README.md), sorted by path.
for o in ro ro,bs=512 ro,bs=1024 ro,bs=4096; do
	mount -t udf -o "$o" "${KUDF_DEV:-/dev/vda}" /mnt 2>/dev/null && break
done
grep -q " /mnt " /proc/mounts || exit 3
cd /mnt || exit 3
# One stat and one sha256sum over the whole tree, joined by path in awk: a process costs milliseconds
# in the emulated guest, and the three per entry this took before made the listing of a 2,500-file
# directory last most of a minute.  The lines are what a loop over `find . | sort` printed with
#   L|path|$(readlink)  D|path|$(stat -c '%a %u %g')  P|path|$(stat -c %a)
#   F|path|$(stat -c '%s %a %u %g %Y %h')|$(sha256sum < path)    (anything else)
mkdir -p /tmp
find . -exec stat -c '%F|%a|%a %u %g|%s %a %u %g %Y %h|%n' {} + > /tmp/manifest.stat || exit 4
find . ! -type d ! -type l ! -type p -exec sha256sum {} + > /tmp/manifest.sums || exit 4
find . -type l | while IFS= read -r p; do printf '%s\n%s\n' "$p" "$(readlink "$p")"; done > /tmp/manifest.links || exit 4
find . | sort | awk '
FILENAME == "/tmp/manifest.stat" {
	s = $0 # type|mode|dir fields|file fields|path (the path last: it may hold a "|")
	for (i = 0; i < 4; i++) { k = index(s, "|"); f[i] = substr(s, 1, k - 1); s = substr(s, k + 1) }
	type[s] = f[0]; pmode[s] = f[1]; dattr[s] = f[2]; fattr[s] = f[3]
	next
}
FILENAME == "/tmp/manifest.sums" { sum[substr($0, 67)] = substr($0, 1, 64); next }
FILENAME == "/tmp/manifest.links" { if (FNR % 2) l = $0; else target[l] = $0; next }
{
	p = $0
	if (type[p] == "symbolic link") print "L|" p "|" target[p]
	else if (type[p] == "directory") print "D|" p "|" dattr[p]
	else if (type[p] == "fifo") print "P|" p "|" pmode[p]
	else print "F|" p "|" fattr[p] "|" sum[p]
}' /tmp/manifest.stat /tmp/manifest.sums /tmp/manifest.links -
