"""One grader per out folder at a time: an exclusive ``flock`` on ``OUT/.lock``.

The holder writes its pid, command line and start time into the lock file, so a second grader
started on the same folder stops at once with a message naming the first. The lock is the
kernel's: it goes when its holder exits, however it exits (``kill -9`` included), so a stale
lock file never blocks a re-run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labkit_course.grading.course import GradingError

__all__ = ["LOCK_NAME", "out_lock", "holder"]

LOCK_NAME = ".lock"


def holder(out: Path) -> str:
    """Who holds (or last held) ``out``'s lock, in words: pid, command and start time."""
    try:
        info = json.loads((out / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another grader (it has not written its name yet)"
    return (f"pid {info.get('pid')} ({info.get('command', '?')}), started "
            f"{info.get('started', '?')}")


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the ``with`` block (creating ``out`` as ``0700`` if missing).

    Raises:
        GradingError: another process holds it; the message names that process.
    """
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise GradingError(f"{out} is in use by another grader: {holder(out)}; wait for it to "
                           "finish (it may still be grading), or give this run another --out") from None
    try:
        me = {"pid": os.getpid(), "command": shlex.join(sys.argv),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode() + b"\n", 0)
        yield
    finally:
        os.close(fd)  # releases the lock
