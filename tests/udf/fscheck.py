# SPDX-License-Identifier: GPL-2.0-or-later
"""The checks the file-system test scripts share (rw_posix.py, rw_open.py): each failed check prints
one line and counts in `failures`, which the script turns into its exit status."""
import errno
import os

failures = 0


def bad(msg):
    global failures
    failures += 1
    print(f"FAIL: {msg}", flush=True)


def check(cond, msg):
    if not cond:
        bad(msg)
    return cond


def expect_errno(want, what, fn, *args, **kw):
    """fn(*args) must fail with one of the errnos in want (an int or a tuple)."""
    wants = want if isinstance(want, tuple) else (want,)
    names = "/".join(errno.errorcode[w] for w in wants)
    try:
        r = fn(*args, **kw)
    except OSError as e:
        if e.errno not in wants:
            bad(f"{what}: {errno.errorcode.get(e.errno, e.errno)} instead of {names}")
        return
    if fn is os.open and isinstance(r, int) and r >= 0:
        os.close(r)
    bad(f"{what}: succeeded, expected {names}")


def get(path):
    with open(path, "rb") as f:
        return f.read()
