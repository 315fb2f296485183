"""File and folder names for student ids.

A student id (see :mod:`labkit_course.grading.collect`) is kept whole in records, ``grades.csv``,
the manual sheet and the gradebook. Where an id names a file or a folder (``results/<id>.json``,
``feedback/<id>.html``, ``autograded/<id>/``, a worker's private course and log) it goes
through :func:`safe_name`: a short id is its own name; a long one (more than
:data:`MAX_NAME_BYTES` bytes of UTF-8) is cut and followed by ``~`` and a hash of the whole id,
so every id of any length gets a distinct name that fits every file system's 255-byte limit,
also with a prefix and a suffix around it. Ids never contain ``~``, so a long id's name cannot
be a short id's.
"""

from __future__ import annotations

import hashlib

__all__ = ["safe_name", "MAX_NAME_BYTES"]

MAX_NAME_BYTES = 64
_KEEP_BYTES = 40  # of a long id, before its hash


def safe_name(student: str) -> str:
    """The file or folder name for ``student`` (see the module docstring)."""
    raw = student.encode("utf-8")
    if len(raw) <= MAX_NAME_BYTES:
        return student
    head = raw[:_KEEP_BYTES].decode("utf-8", errors="ignore")  # never half a character
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:16]}"
