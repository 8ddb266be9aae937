# rich_list DIR: every entry under DIR, one line each, sorted by path (bytewise), with more fields
# than the corpus manifest: what the UDF writer tests compare between pktfuse and the kernel.
# Plain POSIX sh: it is sourced by bash on the host (GNU tools) and by busybox sh in the kudf guest,
# and both must print exactly the same text for the same tree.
#
#   D|path|mode uid gid nlink mtime
#   F|path|size mode uid gid mtime nlink|sha256
#   L|path|target
#   P|path|mode uid gid mtime                      FIFO
#   C|path|mode uid gid major minor               character device (major, minor in hex)
#   B|path|mode uid gid major minor               block device
#   S|path|mode uid gid                            socket
rich_list() {
	(cd "$1" && find . | LC_ALL=C sort | while IFS= read -r p; do
		if [ -L "$p" ]; then
			echo "L|$p|$(readlink "$p")"
		elif [ -d "$p" ]; then
			echo "D|$p|$(stat -c '%a %u %g %h %Y' "$p")"
		elif [ -p "$p" ]; then
			echo "P|$p|$(stat -c '%a %u %g %Y' "$p")"
		elif [ -c "$p" ]; then
			echo "C|$p|$(stat -c '%a %u %g %t %T' "$p")"
		elif [ -b "$p" ]; then
			echo "B|$p|$(stat -c '%a %u %g %t %T' "$p")"
		elif [ -S "$p" ]; then
			echo "S|$p|$(stat -c '%a %u %g' "$p")"
		else
			echo "F|$p|$(stat -c '%s %a %u %g %Y %h' "$p")|$(sha256sum < "$p" | cut -c1-64)"
		fi
	done)
}
