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
# One stat over the tree, one sha256sum over its files (in the listing's order, so that no name is
# parsed from sha256sum's output: GNU's escapes some), joined in awk: a process costs milliseconds in
# the emulated guest, and the several per entry this took before made listings of a few hundred
# entries the larger part of a boot.
rich_list() {
	(cd "$1" && rl=$(mkdir -p "${TMPDIR:-/tmp}" && mktemp -d) && trap 'rm -rf "$rl"' EXIT &&
		LC_ALL=C && export LC_ALL &&
		find . -exec stat -c '%F|%a %u %g %h %Y|%a %u %g %Y|%a %u %g %t %T|%a %u %g|%s %a %u %g %Y %h|%n' {} + > "$rl/stat" &&
		find . | sort > "$rl/paths" &&
		awk -v out="$rl" '
			{
				s = $0 # type|dir|fifo|device|socket|file|path: the path last, it may hold a "|"
				for (i = 0; i < 6; i++) { k = index(s, "|"); f[i] = substr(s, 1, k - 1); s = substr(s, k + 1) }
				t = f[0]
				if (t == "symbolic link") print s > (out "/links")
				else if (t !~ /^(directory|fifo|character special file|block special file|socket)$/) print s > (out "/files")
			}' "$rl/stat" &&
		: >> "$rl/links" && : >> "$rl/files" &&
		while IFS= read -r p; do readlink "$p"; done < "$rl/links" > "$rl/targets" &&
		tr '\n' '\0' < "$rl/files" | xargs -0 -r sha256sum > "$rl/sums" &&
		awk '
			FILENAME ~ /\/stat$/ {
				s = $0
				for (i = 0; i < 6; i++) { k = index(s, "|"); f[i] = substr(s, 1, k - 1); s = substr(s, k + 1) }
				type[s] = f[0]; dir[s] = f[1]; fifo[s] = f[2]; dev[s] = f[3]; sock[s] = f[4]; file[s] = f[5]
				next
			}
			FILENAME ~ /\/links$/ { link[++nl] = $0; next }
			FILENAME ~ /\/targets$/ { target[link[FNR]] = $0; next }
			FILENAME ~ /\/files$/ { fl[++nf] = $0; next }
			FILENAME ~ /\/sums$/ { h = $0; sub(/^\\/, "", h); sum[fl[FNR]] = substr(h, 1, 64); next }
			{
				p = $0; t = type[p]
				if (t == "symbolic link") print "L|" p "|" target[p]
				else if (t == "directory") print "D|" p "|" dir[p]
				else if (t == "fifo") print "P|" p "|" fifo[p]
				else if (t == "character special file") print "C|" p "|" dev[p]
				else if (t == "block special file") print "B|" p "|" dev[p]
				else if (t == "socket") print "S|" p "|" sock[p]
				else print "F|" p "|" file[p] "|" sum[p]
			}' "$rl/stat" "$rl/links" "$rl/targets" "$rl/files" "$rl/sums" "$rl/paths")
}
