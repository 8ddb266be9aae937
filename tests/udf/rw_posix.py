#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""POSIX behaviour of a writable mount, checked with the exact errno (driven by rw_posix.sh).

rw_posix.py basic MNT STATE    renames, unlink of open files, link counts, errnos, modes, times,
                               truncate, holes, device nodes; records in STATE (JSON) what must
                               still hold after a remount
rw_posix.py after MNT STATE    after unmount and mount: what STATE recorded still holds
rw_posix.py fill MNT STATE     fills the file system to ENOSPC; records the complete files
rw_posix.py fillcheck MNT STATE  the complete files are intact; deleting them gives the space back
rw_posix.py user MNT UID       run as user UID: what the modes allow and deny
Each failed check prints one line; the exit status is the number of failures (capped at 100).
"""
import errno
import hashlib
import json
import os
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fscheck  # noqa: E402
from fscheck import bad, check, expect_errno, get  # noqa: E402
import time



def put(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)



def data(seed, n):
    out, h = bytearray(), hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:n])


def sha(b):
    return hashlib.sha256(b).hexdigest()


def free_blocks(mnt):
    return os.statvfs(mnt).f_bfree


def wait_free(mnt, at_least, seconds=10.0):
    """Polls statfs (FUSE's release is asynchronous) until f_bfree >= at_least."""
    end = time.time() + seconds
    while True:
        f = free_blocks(mnt)
        if f >= at_least or time.time() > end:
            return f
        time.sleep(0.05)


def basic(mnt, state_path):
    st = {}
    os.chdir(mnt)
    bs = os.statvfs(".").f_bsize
    os.mkdir("p")
    os.chdir("p")

    # --- rename ---
    put("src", b"source")
    put("dst", b"destination, to be replaced")
    ino = os.lstat("src").st_ino
    os.rename("src", "dst")
    check(not os.path.lexists("src"), "rename file over file: the old name is still there")
    check(get("dst") == b"source", "rename file over file: the target does not have the source's bytes")
    check(os.lstat("dst").st_ino == ino, "rename file over file: the inode changed")
    check(os.lstat("dst").st_nlink == 1, "rename file over file: link count not 1")
    os.rename("dst", "dst")  # onto itself: nothing happens
    check(get("dst") == b"source", "rename onto itself changed the file")
    os.makedirs("d1/inner")
    put("d1/inner/f", b"in d1")
    os.mkdir("d2")
    os.rename("d1", "d2")  # directory over an empty directory
    check(not os.path.lexists("d1"), "rename dir over empty dir: the old name is still there")
    check(get("d2/inner/f") == b"in d1", "rename dir over empty dir: contents lost")
    os.makedirs("d3/x")
    expect_errno(errno.ENOTEMPTY, "rename dir over non-empty dir", os.rename, "d3", "d2")
    check(os.path.isdir("d3/x") and os.path.isfile("d2/inner/f"), "failed rename changed something")
    put("plain", b"p")
    expect_errno(errno.EISDIR, "rename file over dir", os.rename, "plain", "d3")
    expect_errno(errno.ENOTDIR, "rename dir over file", os.rename, "d3", "plain")
    expect_errno(errno.EINVAL, "rename dir into its own subdirectory", os.rename, "d3", "d3/x/y")
    expect_errno(errno.ENOENT, "rename of a missing name", os.rename, "missing", "x")
    # across directories, with the parents' link counts
    os.makedirs("from/moving/sub")
    os.mkdir("to")
    n_from, n_to = os.lstat("from").st_nlink, os.lstat("to").st_nlink
    check(n_from == 3 and n_to == 2, f"directory link counts {n_from}, {n_to} (want 2 + subdirectories: 3, 2)")
    os.rename("from/moving", "to/moved")
    check(os.lstat("from").st_nlink == n_from - 1, "moving a directory out: the old parent's link count")
    check(os.lstat("to").st_nlink == n_to + 1, "moving a directory in: the new parent's link count")
    check(os.lstat("to/moved").st_nlink == 3, "moved directory's link count")
    check(os.path.isdir("to/moved/sub"), "moved directory lost its subdirectory")
    # '..' of the moved directory is the new parent
    check(os.stat("to/moved/..").st_ino == os.stat("to").st_ino, "'..' of a moved directory is not its new parent")
    put("from/f", b"cross")
    os.rename("from/f", "to/f-renamed")
    check(get("to/f-renamed") == b"cross" and not os.path.lexists("from/f"), "rename of a file across directories")
    # a renamed name that had to grow (longer name, other character set)
    os.rename("to/f-renamed", "to/" + "λ" * 100)
    check(get("to/" + "λ" * 100) == b"cross", "rename to a 16-bit name")
    st["renamed16"] = "p/to/" + "λ" * 100

    # --- unlink of an open file ---
    big = data("open-unlinked", 3 << 20)
    put("open", big)
    os.sync()
    f0 = free_blocks(".")
    fd = os.open("open", os.O_RDWR)
    os.unlink("open")
    check(not os.path.lexists("open"), "unlinked open file still has its name")
    check(os.fstat(fd).st_nlink == 0, f"unlinked open file: st_nlink {os.fstat(fd).st_nlink}")
    put("open", b"a new file of the same name")
    check(os.pread(fd, len(big), 0) == big, "unlinked open file cannot be read through its descriptor")
    os.pwrite(fd, b"still writable", 100)
    check(os.pread(fd, 14, 100) == b"still writable", "unlinked open file cannot be written through its descriptor")
    check(get("open") == b"a new file of the same name", "the new file of the same name is not separate")
    os.close(fd)
    f1 = wait_free(".", f0 + (3 << 20) // bs - 2)  # less the new file's block
    check(f1 >= f0 + (3 << 20) // bs - 2, f"space of the unlinked file not returned after close: free {f0} → {f1} blocks")

    # --- hard links ---
    put("h1", b"hard")
    os.link("h1", "h2")
    os.link("h1", "to/h3")
    for n in ("h1", "h2", "to/h3"):
        check(os.lstat(n).st_nlink == 3, f"{n}: st_nlink {os.lstat(n).st_nlink} after two links (want 3)")
    check(len({os.lstat(n).st_ino for n in ("h1", "h2", "to/h3")}) == 1, "hard links have different inode numbers")
    with open("h2", "ab") as f:
        f.write(b"+appended")
    check(get("to/h3") == b"hard+appended", "a write through one link is not seen through another")
    os.unlink("h1")
    check(os.lstat("h2").st_nlink == 2, f"after unlinking one of three links: st_nlink {os.lstat('h2').st_nlink}")
    expect_errno(errno.EPERM, "link of a directory", os.link, "to", "to-link")
    expect_errno(errno.EEXIST, "link onto an existing name", os.link, "h2", "plain")
    st["hard"] = ["p/h2", "p/to/h3"]
    # directories: 2 + subdirectories
    os.mkdir("dn")
    check(os.lstat("dn").st_nlink == 2, f"a new directory has st_nlink {os.lstat('dn').st_nlink} (want 2)")
    for s in ("a", "b", "c"):
        os.mkdir("dn/" + s)
    put("dn/file", b"not a directory")
    check(os.lstat("dn").st_nlink == 5, f"directory with 3 subdirectories: st_nlink {os.lstat('dn').st_nlink} (want 5)")
    os.rmdir("dn/b")
    check(os.lstat("dn").st_nlink == 4, f"after rmdir of one: st_nlink {os.lstat('dn').st_nlink} (want 4)")
    st["dn_nlink"] = 4

    # --- errnos ---
    expect_errno(errno.EEXIST, "mkdir of an existing directory", os.mkdir, "dn")
    expect_errno(errno.EEXIST, "mkdir over an existing file", os.mkdir, "plain")
    expect_errno(errno.EEXIST, "symlink onto an existing name", os.symlink, "x", "plain")
    expect_errno(errno.EEXIST, "mkfifo onto an existing name", os.mkfifo, "plain")
    expect_errno(errno.EEXIST, "O_CREAT|O_EXCL of an existing file", os.open, "plain", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    expect_errno(errno.ENOTEMPTY, "rmdir of a non-empty directory", os.rmdir, "dn")
    expect_errno(errno.ENOTDIR, "rmdir of a file", os.rmdir, "plain")
    expect_errno(errno.ENOTDIR, "open below a file", os.open, "plain/x", os.O_RDONLY)
    expect_errno(errno.ENOTDIR, "mkdir below a file", os.mkdir, "plain/x")
    expect_errno(errno.ENOTDIR, "O_DIRECTORY on a file", os.open, "plain", os.O_RDONLY | os.O_DIRECTORY)
    expect_errno(errno.EISDIR, "open of a directory for writing", os.open, "dn", os.O_WRONLY)
    expect_errno(errno.EISDIR, "unlink of a directory", os.unlink, "dn")
    expect_errno(errno.ENOENT, "unlink of a missing name", os.unlink, "missing")
    expect_errno(errno.ENOENT, "create in a missing directory", os.open, "missing/f", os.O_CREAT | os.O_WRONLY)
    # names: 255 bytes of CS0 at most, its compression byte included
    # and pktfuse keeps to 254 bytes of UTF-8, what Linux's udf reads back (statfs says which)
    namemax = os.statvfs(".").f_namemax
    check(namemax in (254, 255), f"statfs f_namemax {namemax} (UDF holds 254 Latin-1 characters)")
    expect_errno(errno.ENAMETOOLONG, "a 256-byte name", os.open, "n" * 256, os.O_CREAT | os.O_WRONLY)
    expect_errno(errno.ENAMETOOLONG, "a 255-character ASCII name (254 fit in UDF)", os.open, "n" * 255,
                 os.O_CREAT | os.O_WRONLY)
    expect_errno(errno.ENAMETOOLONG, "128 characters outside Latin-1 (127 fit)", os.mkdir, "λ" * 128)
    expect_errno(errno.ENAMETOOLONG, "rename to a 256-byte name", os.rename, "plain", "r" * 256)
    check(os.path.isfile("plain"), "a failed rename to a long name lost the file")
    for name in ("é" * 127 + "a", "語" * 85):  # 255 bytes of UTF-8 that fit in UDF's 255 bytes of CS0
        if namemax == 254:
            expect_errno(errno.ENAMETOOLONG, f"a 255-byte name with f_namemax 254 ({name[:3]}…)", put, name, b"x")
            check(not os.path.lexists(name), "a refused long name left an entry")
        else:
            put(name, b"x")
            os.unlink(name)
    longnames = ("n" * 254, "é" * 127, "λ" * 127, "語" * 84 + "ab")
    for name in longnames:
        try:
            put(name, name.encode())
        except OSError as e:
            bad(f"a name of {len(name)} characters / {len(name.encode())} bytes that fits: {e}")
    os.rename("λ" * 127, "é" * 126 + "ab")  # a long 16-bit name renamed to a long 8-bit one
    check(get("é" * 126 + "ab") == ("λ" * 127).encode(), "rename between long names")
    os.rename("é" * 126 + "ab", "λ" * 127)
    st["longnames"] = ["p/" + n for n in longnames]
    # outside the Basic Multilingual Plane: kept exactly, or refused with a clear error
    try:
        put("emoji-\U0001F600", b"smile")
        st["emoji"] = "p/emoji-\U0001F600"
        check(os.listdir(".").count("emoji-\U0001F600") == 1, "a name outside the BMP is not listed as written")
    except OSError as e:
        check(e.errno in (errno.EINVAL, errno.EILSEQ, errno.ENAMETOOLONG),
              f"a name outside the BMP refused with {errno.errorcode.get(e.errno)}")
        st["emoji"] = None
        check(not any(n.startswith("emoji-") for n in os.listdir(".")), "a refused name left an entry behind")

    # --- modes and owners ---
    put("m", b"mode")
    for mode in (0o640, 0o4755, 0o2711, 0o1777, 0o0, 0o777):
        os.chmod("m", mode)
        check(stat.S_IMODE(os.lstat("m").st_mode) == mode, f"chmod {mode:o}: st_mode {os.lstat('m').st_mode:o}")
    os.chmod("m", 0o751)
    os.chown("m", 1234, 5678)
    check((os.lstat("m").st_uid, os.lstat("m").st_gid) == (1234, 5678), "chown 1234:5678")
    os.chown("m", -1, 42)
    check((os.lstat("m").st_uid, os.lstat("m").st_gid) == (1234, 42), "chown -1:42 changed the owner or not the group")
    os.lchown("to", 7, 8)
    os.chmod("to", 0o1750)
    st["modes"] = {"p/m": [0o751, 1234, 42], "p/to": [0o1750, 7, 8]}
    fd = os.open("created-0600", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    check(stat.S_IMODE(os.lstat("created-0600").st_mode) == 0o600 & ~current_umask(),
          f"create with mode 0600: {os.lstat('created-0600').st_mode:o}")

    # --- times ---
    put("t", b"times")
    os.utime("t", ns=(1000000000_123456000, 1200000000_654321000))
    s = os.lstat("t")
    check(s.st_atime_ns == 1000000000_123456000, f"utimens atime: {s.st_atime_ns}")
    check(s.st_mtime_ns == 1200000000_654321000, f"utimens mtime: {s.st_mtime_ns}")
    st["times"] = {"p/t": [1000000000_123456000, 1200000000_654321000]}
    os.utime("t", ns=(1100000000_000001000, 1200000000_654321000))  # atime only changes
    check(os.lstat("t").st_mtime_ns == 1200000000_654321000, "utimens of atime changed mtime")
    st["times"]["p/t"][0] = 1100000000_000001000
    os.symlink("target", "tl")
    os.utime("tl", ns=(1300000000_000000000, 1300000000_500000000), follow_symlinks=False)
    check(os.lstat("tl").st_mtime_ns == 1300000000_500000000, "utimens on a symlink itself")
    check(os.readlink("tl") == "target", f"symlink target {os.readlink('tl')!r}")
    check(os.lstat("tl").st_size == 6, f"symlink st_size {os.lstat('tl').st_size}, POSIX: the target's length (6)")
    put("w", b"x")
    os.utime("w", (1000000000, 1000000000))
    t0 = time.time()
    with open("w", "ab") as f:
        f.write(b"more")
    s = os.lstat("w")
    check(s.st_mtime >= t0 - 1, f"a write did not update mtime ({s.st_mtime} < {t0})")
    check(s.st_ctime >= t0 - 1, f"a write did not update ctime ({s.st_ctime} < {t0})")
    os.utime(".", (1000000000, 1000000000))
    t0 = time.time()
    put("new-in-dir", b"n")
    s = os.lstat(".")
    check(s.st_mtime >= t0 - 1 and s.st_ctime >= t0 - 1, "creating a file did not update its directory's mtime/ctime")
    os.utime("dn", (1000000000, 1000000000))
    os.unlink("dn/file")
    check(os.lstat("dn").st_mtime >= t0 - 1, "unlinking did not update the directory's mtime")
    os.utime("m", (1000000000, 1000000000))
    c0 = os.lstat("m").st_ctime
    time.sleep(1.05)
    os.chmod("m", 0o751)
    check(os.lstat("m").st_ctime > c0, "chmod did not update ctime")
    check(os.lstat("m").st_mtime == 1000000000, "chmod changed mtime")

    # --- sizes, truncate, holes, append ---
    d = data("trunc", 100000)
    put("tr", d)
    os.truncate("tr", 5000)
    check(get("tr") == d[:5000], "truncate down")
    os.truncate("tr", 300000)
    check(get("tr") == d[:5000] + bytes(295000), "truncate up is not zero-filled")
    fd = os.open("tr", os.O_WRONLY)
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"after a hole", 1 << 20)
    os.close(fd)
    check(get("tr") == bytes(1 << 20) + b"after a hole", "a write beyond EOF: the hole is not zeros")
    fd = os.open("tr", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"|appended")
    os.close(fd)
    check(get("tr")[-21:] == b"after a hole|appended", "O_APPEND did not write at the end")
    st["tr"] = sha(get("tr"))
    # small file (embedded in its file entry) grows past the block and shrinks back
    put("grow", b"g" * 100)
    with open("grow", "ab") as f:
        f.write(data("grow", 3 * bs))
    with open("grow", "r+b") as f:
        f.truncate(10)
    check(get("grow") == b"g" * 10, "a file grown past its entry and truncated back")
    st["grow"] = sha(get("grow"))
    fd = os.open("tr", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)

    # --- special files ---
    st["special"] = {"p/fifo": ["p", 0, 0]}
    try:
        os.mknod("chr", 0o620 | stat.S_IFCHR, os.makedev(1, 3))
        s = os.lstat("chr")
        check(stat.S_ISCHR(s.st_mode) and s.st_rdev == os.makedev(1, 3),
              f"mknod c 1 3: mode {s.st_mode:o} rdev {s.st_rdev:x}")
        st["special"]["p/chr"] = ["c", 1, 3]
        os.mknod("blk", 0o600 | stat.S_IFBLK, os.makedev(7, 200))
        st["special"]["p/blk"] = ["b", 7, 200]
    except OSError as e:
        bad(f"mknod of a device node (UDF records them: file types 6/7 and a device specification): {e}")
    os.mkfifo("fifo", 0o640)
    check(stat.S_ISFIFO(os.lstat("fifo").st_mode), "mkfifo")
    sk = socket.socket(socket.AF_UNIX)
    try:
        sk.bind("sock")
        check(stat.S_ISSOCK(os.lstat("sock").st_mode), "a bound socket is not a socket")
        st["sock"] = True
    except OSError as e:
        bad(f"bind of a unix socket in the mount: {e}")
        st["sock"] = False
    finally:
        sk.close()

    # --- statfs is the real free space ---
    os.sync()
    f0 = free_blocks(".")
    blob = data("statfs", 4 << 20)
    put("blob", blob)
    fd = os.open("blob", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    f1 = free_blocks(".")
    check(f0 - f1 >= (4 << 20) // bs, f"statfs after writing 4 MiB: free {f0} → {f1} blocks of {bs}")
    check(f0 - f1 <= (4 << 20) // bs + 64, f"statfs after writing 4 MiB: {f0 - f1} blocks used")
    os.unlink("blob")
    f2 = wait_free(".", f0)
    check(f2 >= f0 - 2, f"statfs after deleting it: free {f2}, was {f0}")
    sv = os.statvfs(".")
    check(sv.f_blocks > sv.f_bfree and sv.f_bavail <= sv.f_bfree, "statfs totals")
    check(not (sv.f_flag & os.ST_RDONLY), "statfs says read-only")

    st["sha"] = {}
    for root, dirs, files in os.walk("."):
        for f in files:
            p = os.path.join(root, f)
            if stat.S_ISREG(os.lstat(p).st_mode) and os.path.normpath(p) != "t":  # t: its atime is checked
                st["sha"]["p/" + os.path.normpath(p)] = sha(get(p))
    with open(state_path, "w") as f:
        json.dump(st, f)


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


def after(mnt, state_path):
    with open(state_path) as f:
        st = json.load(f)
    os.chdir(mnt)
    for p, (a, m) in st["times"].items():
        s = os.lstat(p)
        check(s.st_mtime_ns == m, f"after remount: {p} mtime {s.st_mtime_ns} (want {m})")
        check(s.st_atime_ns == a, f"after remount: {p} atime {s.st_atime_ns} (want {a})")
    for p, want in st["sha"].items():
        try:
            check(sha(get(p)) == want, f"after remount: {p} has other bytes")
        except OSError as e:
            bad(f"after remount: {p}: {e}")
    check(os.path.isfile(st["renamed16"]), "after remount: the file renamed to a 16-bit name is gone")
    for p in st["hard"]:
        check(os.lstat(p).st_nlink == 2, f"after remount: {p} st_nlink {os.lstat(p).st_nlink} (want 2)")
    check(os.lstat(st["hard"][0]).st_ino == os.lstat(st["hard"][1]).st_ino, "after remount: hard links differ")
    check(os.lstat("p/dn").st_nlink == st["dn_nlink"], f"after remount: directory st_nlink {os.lstat('p/dn').st_nlink}")
    check(os.lstat("p").st_nlink == 2 + sum(1 for e in os.scandir("p") if e.is_dir(follow_symlinks=False)),
          "after remount: st_nlink of p is not 2 + its subdirectories")
    for p in st["longnames"]:
        check(os.path.isfile(p) and get(p) == os.path.basename(p).encode(), f"after remount: long name {len(p)} lost")
    if st["emoji"]:
        check(os.path.basename(st["emoji"]) in os.listdir("p"), "after remount: the name outside the BMP changed")
    for p, (mode, uid, gid) in st["modes"].items():
        s = os.lstat(p)
        check((stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid) == (mode, uid, gid),
              f"after remount: {p} mode/owner {stat.S_IMODE(s.st_mode):o} {s.st_uid}:{s.st_gid}")
    check(os.lstat("p/tl").st_mtime_ns == 1300000000_500000000, "after remount: symlink mtime")
    check(st["tr"] == sha(get("p/tr")) and os.lstat("p/tr").st_size == (1 << 20) + 21, "after remount: the file with a hole")
    for p, (kind, ma, mi) in st["special"].items():
        s = os.lstat(p)
        ok = {"c": stat.S_ISCHR, "b": stat.S_ISBLK, "p": stat.S_ISFIFO}[kind](s.st_mode)
        check(ok, f"after remount: {p} is no longer of type {kind} ({s.st_mode:o})")
        if kind != "p":
            check(s.st_rdev == os.makedev(ma, mi), f"after remount: {p} device {os.major(s.st_rdev)},{os.minor(s.st_rdev)} (want {ma},{mi})")
    if st["sock"]:
        check(stat.S_ISSOCK(os.lstat("p/sock").st_mode), "after remount: the socket is no longer a socket")


def fill(mnt, state_path):
    os.chdir(mnt)
    os.mkdir("fill")
    done, k = {}, 0
    bs = os.statvfs(".").f_bsize
    # big files until the space runs out
    while True:
        name = f"fill/big{k:03d}"
        d = data(name, 1 << 20)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as e:
            check(e.errno == errno.ENOSPC, f"create when full: {e}")
            break
        try:
            off = 0
            while off < len(d):
                off += os.write(fd, d[off:off + 65536])
            os.fsync(fd)
            done[name] = sha(d)
        except OSError as e:
            if not check(e.errno == errno.ENOSPC, f"write when full: {e}"):
                break
            os.close(fd)
            fd = -1
            # the partial file holds a prefix of what was written, nothing else
            got = get(name)
            check(got == d[:len(got)], f"{name}: the part written before ENOSPC has other bytes")
            break
        finally:
            if fd >= 0:
                os.close(fd)
        k += 1
        check(k < 10000, "the file system never filled")
    # then small files and directories until even entries run out
    n = 0
    for n in range(100000):
        try:
            put(f"fill/small{n:05d}", b"s" * (n % 3000))
            done[f"fill/small{n:05d}"] = sha(b"s" * (n % 3000))
        except OSError as e:
            check(e.errno == errno.ENOSPC, f"small file when full: {e}")
            break
    # empty files and directories need a file entry each: they too run out, with ENOSPC
    for n in range(100000):
        try:
            if n % 2:
                os.mkdir(f"fill/d{n:05d}")
            else:
                put(f"fill/e{n:05d}", b"")
        except OSError as e:
            check(e.errno == errno.ENOSPC, f"new entry when full: {e}")
            break
    expect_errno(errno.ENOSPC, "mkdir when full", os.mkdir, "fill/one-more-dir")
    expect_errno(errno.ENOSPC, "a new empty file when full", put, "fill/one-more-file", b"")
    check(not os.path.lexists("fill/one-more-file"), "a file refused with ENOSPC is there")
    # cleaning up a little must be possible when full
    sv = os.statvfs(".")
    check(sv.f_bfree <= 2, f"ENOSPC for an empty file while statfs says {sv.f_bfree} blocks are free")
    free_when_full = sv.f_bfree
    victim = sorted(done)[0]
    os.unlink(victim)
    del done[victim]
    put("fill/after-unlink", b"fits again")
    done["fill/after-unlink"] = sha(b"fits again")
    check(len(done) > 3, f"only {len(done)} files fitted")
    with open(state_path, "w") as f:
        json.dump({"done": done, "free_when_full": free_when_full}, f)


def fillcheck(mnt, state_path, free_fresh):
    with open(state_path) as f:
        st = json.load(f)
    os.chdir(mnt)
    for p, want in st["done"].items():
        try:
            check(sha(get(p)) == want, f"after ENOSPC and remount: {p} has other bytes")
        except OSError as e:
            bad(f"after ENOSPC and remount: {p}: {e}")
    for p in os.listdir("fill"):
        if os.path.isdir("fill/" + p):
            os.rmdir("fill/" + p)
        else:
            os.unlink("fill/" + p)
    os.rmdir("fill")
    free = wait_free(".", free_fresh - 2)
    check(free >= free_fresh - 2, f"after deleting everything: {free} blocks free, {free_fresh} when fresh")
    # and the space is really usable again
    d = data("again", (free // 2) * os.statvfs(".").f_bsize)
    put("again", d)
    check(get("again") == d, "a file in the returned space")
    os.unlink("again")


def user(mnt, uid):
    os.chdir(mnt)
    expect_errno(errno.EACCES, "user reads a 0600 root file", get, "perm/secret")
    check(get("perm/public") == b"public", "user cannot read a 0644 file")
    expect_errno(errno.EACCES, "user writes a 0644 root file", os.open, "perm/public", os.O_WRONLY)
    expect_errno(errno.EACCES, "user creates in a 0755 root directory", os.open, "perm/new", os.O_CREAT | os.O_WRONLY)
    expect_errno(errno.EACCES, "user lists a 0700 root directory", os.listdir, "perm/private")
    expect_errno(errno.EPERM, "user chmods a root file", os.chmod, "perm/public", 0o666)
    expect_errno(errno.EPERM, "user chowns its file to root", lambda: (put("perm/open/mine", b"m"), os.chown("perm/open/mine", 0, 0)))
    s = os.lstat("perm/open/mine")
    check(s.st_uid == uid, f"a file the user created is owned by {s.st_uid}, not {uid}")
    expect_errno(errno.EPERM, "user deletes root's file in a sticky directory", os.unlink, "perm/open/roots")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "basic" and len(sys.argv) == 4:
        basic(sys.argv[2], sys.argv[3])
    elif cmd == "after" and len(sys.argv) == 4:
        after(sys.argv[2], sys.argv[3])
    elif cmd == "fill" and len(sys.argv) == 4:
        fill(sys.argv[2], sys.argv[3])
    elif cmd == "fillcheck" and len(sys.argv) == 5:
        fillcheck(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "user" and len(sys.argv) == 4:
        user(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
    sys.exit(min(fscheck.failures, 100))
