#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Open flags and name lengths on the writable files view, checked through the kernel (driven by
rw_open.sh and rw_names.sh).

rw_open.py flags MNT STATE   every flag open(2) and creat(2) pass on: O_TRUNC (libfuse turns on
                             atomic O_TRUNC, so the daemon's open must truncate), O_APPEND, O_EXCL,
                             O_CREAT on an existing name, O_WRONLY/O_RDWR on a directory,
                             O_DIRECTORY; records in STATE what the files must hold after a remount
rw_open.py after MNT STATE   after unmount and mount: the files hold exactly what STATE says
rw_open.py ro MNT STATE      on a read-only mount: O_TRUNC and writing opens give EROFS, nothing changes
rw_open.py names MNT         every call that takes a name gives ENAMETOOLONG for a name longer than
                             statfs's f_namemax, and a name of exactly f_namemax bytes works
Each failed check prints one line; the exit status is the number of failures (capped at 100).
"""
import errno
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fscheck  # noqa: E402
from fscheck import bad, check, expect_errno, get  # noqa: E402




def open_write(path, flags, data, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        if data:
            os.write(fd, data)
    finally:
        os.close(fd)


def same(path, want, what):
    try:
        got = get(path)
    except OSError as e:
        return bad(f"{what}: {path}: {e}")
    check(got == want, f"{what}: {os.path.basename(path)} holds {got[:40]!r} ({len(got)} bytes), "
          f"expected {want[:40]!r} ({len(want)} bytes)")


def flags(mnt, state):
    d = os.path.join(mnt, "flags")
    os.mkdir(d)
    want = {}

    def f(name):
        return os.path.join(d, name)

    # the issue's own example, through a shell's redirection (open O_WRONLY|O_CREAT|O_TRUNC)
    subprocess.run(["sh", "-c", f"printf 'hello world\\n' > '{f('shell')}'; printf 'hi\\n' > '{f('shell')}'"],
                   check=True)
    same(f("shell"), b"hi\n", "sh > over a longer file")
    want["shell"] = b"hi\n"

    # O_TRUNC with each access mode; a file larger than a block and an embedded one
    for name, flag in (("trunc_wronly", os.O_WRONLY), ("trunc_rdwr", os.O_RDWR)):
        for old in (b"x" * 10000, b"short old text"):
            open_write(f(name), os.O_WRONLY | os.O_CREAT, old)
            open_write(f(name), flag | os.O_TRUNC, b"new")
            same(f(name), b"new", f"O_TRUNC|{'O_WRONLY' if flag == os.O_WRONLY else 'O_RDWR'} over "
                 f"{len(old)} bytes")
        want[name] = b"new"
    # O_TRUNC opening alone (no write) empties the file and changes mtime and ctime
    open_write(f("trunc_only"), os.O_WRONLY | os.O_CREAT, b"y" * 5000)
    old = os.stat(f("trunc_only"))
    os.utime(f("trunc_only"), (old.st_atime - 100, old.st_mtime - 100))
    old = os.stat(f("trunc_only"))
    os.close(os.open(f("trunc_only"), os.O_WRONLY | os.O_TRUNC))
    st = os.stat(f("trunc_only"))
    check(st.st_size == 0, f"open O_WRONLY|O_TRUNC: size {st.st_size}, expected 0")
    check(st.st_mtime_ns > old.st_mtime_ns, "open O_TRUNC did not change mtime")
    check(st.st_ctime_ns >= old.st_ctime_ns, "open O_TRUNC moved ctime back")
    want["trunc_only"] = b""
    # O_RDONLY|O_TRUNC: Linux truncates too (it asks for write permission)
    open_write(f("trunc_rdonly"), os.O_WRONLY | os.O_CREAT, b"z" * 3000)
    os.close(os.open(f("trunc_rdonly"), os.O_RDONLY | os.O_TRUNC))
    same(f("trunc_rdonly"), b"", "O_RDONLY|O_TRUNC")
    want["trunc_rdonly"] = b""
    # a file opened twice: O_TRUNC through the second descriptor is seen by the first
    open_write(f("trunc_shared"), os.O_WRONLY | os.O_CREAT, b"0123456789" * 300)
    fd1 = os.open(f("trunc_shared"), os.O_RDONLY)
    os.close(os.open(f("trunc_shared"), os.O_WRONLY | os.O_TRUNC))
    check(os.pread(fd1, 100, 0) == b"", "a descriptor opened before O_TRUNC still reads the old data")
    check(os.fstat(fd1).st_size == 0, "fstat of a descriptor opened before O_TRUNC: not empty")
    os.close(fd1)
    want["trunc_shared"] = b""
    # O_CREAT|O_TRUNC on an existing name (what cp and shells do)
    open_write(f("creat_trunc"), os.O_WRONLY | os.O_CREAT, b"long existing content " * 200)
    open_write(f("creat_trunc"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, b"after")
    same(f("creat_trunc"), b"after", "O_CREAT|O_TRUNC over an existing file")
    want["creat_trunc"] = b"after"
    # cp of a small file over a big one
    open_write(f("cp_small"), os.O_WRONLY | os.O_CREAT, b"small\n")
    open_write(f("cp_big"), os.O_WRONLY | os.O_CREAT, b"B" * 300000)
    subprocess.run(["cp", f("cp_small"), f("cp_big")], check=True)
    same(f("cp_big"), b"small\n", "cp of a small file over a big one")
    want["cp_small"] = want["cp_big"] = b"small\n"
    # O_CREAT on an existing name without O_TRUNC: the content stays, the mode is not changed
    open_write(f("creat_keep"), os.O_WRONLY | os.O_CREAT, b"keep me", 0o640)
    os.close(os.open(f("creat_keep"), os.O_WRONLY | os.O_CREAT, 0o600))
    same(f("creat_keep"), b"keep me", "O_CREAT on an existing name")
    check(os.stat(f("creat_keep")).st_mode & 0o777 == 0o640, "O_CREAT on an existing name changed its mode")
    want["creat_keep"] = b"keep me"
    # O_EXCL: an existing file, a directory, a symbolic link (even a dangling one) give EEXIST
    expect_errno(errno.EEXIST, "O_CREAT|O_EXCL on an existing file", os.open, f("creat_keep"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    expect_errno(errno.EEXIST, "O_CREAT|O_EXCL on a directory", os.open, d, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.symlink("no-such-target", f("dangling"))
    expect_errno(errno.EEXIST, "O_CREAT|O_EXCL on a dangling symbolic link", os.open, f("dangling"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    check(not os.path.exists(f("no-such-target")), "O_CREAT|O_EXCL followed a dangling symbolic link")
    same(f("creat_keep"), b"keep me", "after O_EXCL")
    open_write(f("excl_new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, b"fresh")
    same(f("excl_new"), b"fresh", "O_CREAT|O_EXCL of a new name")
    want["excl_new"] = b"fresh"
    # O_APPEND: every write lands at the end, also after another descriptor made the file longer
    open_write(f("append"), os.O_WRONLY | os.O_CREAT, b"first\n")
    fa = os.open(f("append"), os.O_WRONLY | os.O_APPEND)
    fb = os.open(f("append"), os.O_WRONLY | os.O_APPEND)
    os.write(fa, b"a1\n")
    os.write(fb, b"b1\n")
    os.lseek(fa, 0, os.SEEK_SET)
    os.write(fa, b"a2\n")
    os.close(fa)
    os.close(fb)
    subprocess.run(["sh", "-c", f"printf 'sh\\n' >> '{f('append')}'"], check=True)
    fc = os.open(f("append"), os.O_RDWR | os.O_APPEND)
    os.write(fc, b"x" * 5000)  # grows the file out of its ICB
    os.close(fc)
    append_want = b"first\na1\nb1\na2\nsh\n" + b"x" * 5000
    same(f("append"), append_want, "O_APPEND")
    want["append"] = append_want
    # O_APPEND|O_TRUNC: emptied, then appended
    open_write(f("append_trunc"), os.O_WRONLY | os.O_CREAT, b"old" * 1000)
    open_write(f("append_trunc"), os.O_WRONLY | os.O_APPEND | os.O_TRUNC, b"only")
    same(f("append_trunc"), b"only", "O_APPEND|O_TRUNC")
    want["append_trunc"] = b"only"
    # directories: no writing open; O_DIRECTORY opens a directory and refuses anything else
    for flag, name in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"), (os.O_WRONLY | os.O_TRUNC, "O_WRONLY|O_TRUNC"),
                       (os.O_RDWR | os.O_CREAT, "O_RDWR|O_CREAT")):
        expect_errno(errno.EISDIR, f"{name} on a directory", os.open, d, flag)
    os.close(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
    expect_errno(errno.ENOTDIR, "O_DIRECTORY on a file", os.open, f("creat_keep"), os.O_RDONLY | os.O_DIRECTORY)
    expect_errno(errno.ENOTDIR, "a file as a directory", os.open, f("creat_keep") + "/x", os.O_RDONLY)
    expect_errno(errno.ENOENT, "open of a missing name without O_CREAT", os.open, f("missing"), os.O_RDWR)
    # O_TRUNC on a FIFO: no error, and nothing to truncate
    os.mkfifo(f("fifo"))
    fr = os.open(f("fifo"), os.O_RDONLY | os.O_NONBLOCK)
    os.close(os.open(f("fifo"), os.O_WRONLY | os.O_TRUNC | os.O_NONBLOCK))
    os.close(fr)
    # a file without write permission: O_TRUNC needs it (root passes, so only the mode is checked)
    open_write(f("readonly"), os.O_WRONLY | os.O_CREAT, b"protected", 0o444)
    want["readonly"] = b"protected"
    with open(state, "w") as s:
        json.dump({k: v.hex() for k, v in want.items()}, s)


def after(mnt, state):
    with open(state) as s:
        want = {k: bytes.fromhex(v) for k, v in json.load(s).items()}
    for name, data in want.items():
        same(os.path.join(mnt, "flags", name), data, "after a remount")


def read_only(mnt, state):
    with open(state) as s:
        want = {k: bytes.fromhex(v) for k, v in json.load(s).items()}
    d = os.path.join(mnt, "flags")
    for name in ("append", "trunc_wronly"):
        p = os.path.join(d, name)
        for flag, what in ((os.O_RDONLY | os.O_TRUNC, "O_RDONLY|O_TRUNC"), (os.O_WRONLY | os.O_TRUNC, "O_WRONLY|O_TRUNC"),
                           (os.O_WRONLY, "O_WRONLY"), (os.O_RDWR | os.O_APPEND, "O_RDWR|O_APPEND"),
                           (os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC")):
            expect_errno(errno.EROFS, f"read-only mount: {what}", os.open, p, flag)
        same(p, want[name], "read-only mount")
    expect_errno(errno.EROFS, "read-only mount: O_CREAT of a new name", os.open, os.path.join(d, "new"),
                 os.O_WRONLY | os.O_CREAT)
    os.close(os.open(os.path.join(d, "append"), os.O_RDONLY))


def names(mnt):
    namemax = os.statvfs(mnt).f_namemax
    d = os.path.join(mnt, "names")
    os.mkdir(d)
    os.chdir(d)
    longest = "m" * namemax
    over = "o" * (namemax + 1)
    far = "f" * 300
    open_write("file", os.O_WRONLY | os.O_CREAT, b"f")
    os.mkdir("dir")
    # a name of f_namemax bytes works with every call
    open_write(longest, os.O_WRONLY | os.O_CREAT, b"longest")
    os.chmod(longest, 0o600)
    os.chown(longest, 12, 34)
    os.truncate(longest, 3)
    os.link(longest, longest[:-1] + "L")
    os.rename(longest, longest[:-1] + "R")
    os.rename(longest[:-1] + "R", longest)
    check(get(longest) == b"lon", f"a {namemax}-byte name: content")
    os.unlink(longest[:-1] + "L")
    os.unlink(longest)
    os.mkdir(longest)
    os.rmdir(longest)
    os.symlink("file", longest)
    os.unlink(longest)
    os.mkfifo(longest)
    os.unlink(longest)
    # one byte more: ENAMETOOLONG from every call, whether the name would be looked up or created
    for n in (over, far, "é" * ((namemax + 2) // 2)):
        what = f"a {len(n.encode())}-byte name"
        E = errno.ENAMETOOLONG
        expect_errno(E, f"stat of {what}", os.stat, n)
        expect_errno(E, f"lstat of {what}", os.lstat, n)
        expect_errno(E, f"open of {what}", os.open, n, os.O_RDONLY)
        expect_errno(E, f"creat of {what}", os.open, n, os.O_WRONLY | os.O_CREAT, 0o644)
        expect_errno(E, f"O_EXCL creat of {what}", os.open, n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        expect_errno(E, f"mkdir of {what}", os.mkdir, n)
        expect_errno(E, f"mkfifo of {what}", os.mkfifo, n)
        expect_errno(E, f"mknod of {what}", os.mknod, n, 0o600 | 0o020000, os.makedev(1, 3))
        expect_errno(E, f"symlink named {what}", os.symlink, "file", n)
        expect_errno(E, f"link to {what}", os.link, "file", n)
        expect_errno(E, f"link from {what}", os.link, n, "x")
        expect_errno(E, f"unlink of {what}", os.unlink, n)
        expect_errno(E, f"rmdir of {what}", os.rmdir, n)
        expect_errno(E, f"rename from {what}", os.rename, n, "x")
        expect_errno(E, f"rename to {what}", os.rename, "file", n)
        expect_errno(E, f"rename of a directory to {what}", os.rename, "dir", n)
        expect_errno(E, f"chmod of {what}", os.chmod, n, 0o600)
        expect_errno(E, f"chown of {what}", os.chown, n, 1, 1)
        expect_errno(E, f"lchown of {what}", os.lchown, n, 1, 1)
        expect_errno(E, f"truncate of {what}", os.truncate, n, 0)
        expect_errno(E, f"utime of {what}", os.utime, n)
        expect_errno(E, f"a path through {what}", os.stat, n + "/x")
        check(not os.access(n, os.F_OK), f"access of {what} says it exists")
    check(sorted(os.listdir(".")) == ["dir", "file"], f"the directory holds {sorted(os.listdir('.'))}")


def main():
    mode, mnt = sys.argv[1], sys.argv[2]
    if mode == "flags":
        flags(mnt, sys.argv[3])
    elif mode == "after":
        after(mnt, sys.argv[3])
    elif mode == "ro":
        read_only(mnt, sys.argv[3])
    elif mode == "names":
        names(mnt)
    else:
        sys.exit(f"unknown mode {mode}")
    sys.exit(min(fscheck.failures, 100))


if __name__ == "__main__":
    main()
