"""CSV files that a TA opens in a spreadsheet: ``grades.csv``, ``manual.csv`` and the CSVs a TA
hands back (``--import-manual``, ``--roster``).

Written: UTF-8, and every cell that a spreadsheet would read as a formula -- one starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return -- starts with ``'`` instead (a student's
answer ``=HYPERLINK(...)`` stays text). A plain number (``-1``, ``+2.5``) is a number to a
spreadsheet, never a formula, and is written as it is, so score columns stay numeric.

Read: UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8" writes one); columns
separated by commas, or by semicolons or tabs when the header line has no comma (what Excel
writes in locales with a decimal comma). Any other encoding is refused with a message saying
how to save the file as UTF-8, never a traceback.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterable

from labkit_course.grading.course import GradingError
from labkit_course.grading.outputs import atomic_open

__all__ = ["safe_cell", "write_csv", "read_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SAVE_AS = ("save it from the spreadsheet as 'CSV UTF-8 (Comma delimited)' (Excel) or 'Text CSV' "
            "with character set 'Unicode (UTF-8)' (LibreOffice), then import it again")


def safe_cell(value: object) -> str:
    """``value`` as CSV cell text that no spreadsheet runs as a formula (module docstring)."""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    """Write ``header`` and ``rows`` to ``path`` atomically (:func:`labkit_course.grading.outputs.
    atomic_open`), UTF-8, every cell through :func:`safe_cell`."""
    with atomic_open(path, newline="") as f:
        w = csv.writer(f)
        w.writerow([safe_cell(c) for c in header])
        for row in rows:
            w.writerow([safe_cell(c) for c in row])


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\0" in raw[:4096]:
        raise GradingError(f"{path} is UTF-16 (Excel's 'Unicode Text'); labkit reads UTF-8: "
                           + _SAVE_AS)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise GradingError(f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}; "
                           "perhaps Latin-1 or Windows-1252); labkit reads UTF-8: " + _SAVE_AS) from None


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """``(column names, rows)`` of the CSV file ``path`` (module docstring), each row a dict
    of stripped cells ("" for a missing one).

    Raises:
        GradingError: the file is not UTF-8, or not readable as CSV.
    """
    text = _text(path)
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
                for row in reader]
    except csv.Error as exc:
        raise GradingError(f"{path} is not a readable CSV file ({exc})") from None
    return [c.strip() for c in reader.fieldnames or []], rows
