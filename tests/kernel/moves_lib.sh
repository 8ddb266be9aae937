# Functions of the kernel tests that make entries move (core/udf/udf_move.c, ICB strategy 4096
# chains) through a files view: kernel_moves.sh and kernel_crash.sh.  Sourced with HERE naming
# tests/kernel.

# fsyncs DIR FIRST COUNT: files DIR/fFIRST.. written and fsync'd one by one (a commit each)
fsyncs() {
	python3 - "$@" << 'PY'
import os, sys
d, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(first, first + count):
    with open(f"{d}/f{i:03d}", "wb") as f:
        f.write(f"file {i} of {d}\n".encode() * (i % 7 + 1))
        f.flush()
        os.fsync(f.fileno())
PY
}
# rewrites FILE FIRST COUNT HOW: FILE appended 100 bytes (HOW=append), or its first 8 KiB
# (HOW=overwrite) or 40 bytes (HOW=tiny, embedded in the entry) overwritten, fsync'd, COUNT times
rewrites() {
	python3 - "$@" << 'PY'
import os, sys
path, first, count, how = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_APPEND if how == "append" else 0), 0o644)
for i in range(first, first + count):
    if how == "append":
        os.write(fd, b"%099d\n" % i)
    else:
        os.pwrite(fd, bytes([i % 251 + 1]) * (8192 if how == "overwrite" else 40), 0)
    os.fsync(fd)
os.close(fd)
PY
}
# hops IMG NAME → the hops of NAME's chain ("/", "/d", "/log")
hops() { python3 "$HERE/../udf/udf_chain.py" "$1" | awk -v n="$2" '$1 == n { print $2 }'; }
strategy() { python3 "$HERE/../udf/udf_chain.py" "$1" | awk -v n="$2" '$1 == n { print $3 }'; }
