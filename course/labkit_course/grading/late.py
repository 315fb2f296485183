"""Late work: when each submission came in, when it was due, how late it is, and an optional
penalty.

A submission's time comes from, in this order (``submitted_from`` in ``grades.csv``):

* ``lms``: a submissions CSV exported from the LMS (``--submission-times FILE``), its rows
  matched to the graded students like a roster (:mod:`labkit_course.grading.roster`) and its
  time column one of :data:`TIME_COLUMNS`;
* ``gradescope``: the ``created_at`` of a Gradescope ``submission_metadata.json`` in the
  notebook's folder or the folder above (the autograder's ``/autograder`` layout);
* ``mtime``: the file's modification time, which is when the file was last written on this
  machine (a copy or an unzip makes it later), so it is named as such. A notebook extracted
  from a zip has none (its file is as old as the extraction).

The due time is ``--due`` (ISO 8601 with an offset, ``2026-03-07T12:00-05:00``, or followed by a
time zone name, ``2026-03-07T12:00 America/New_York``); a roster's ``due`` column (a time; one
without an offset is in ``--due``'s zone) or ``extension_hours`` column (hours added) gives a
student their own. ``late_by_hours`` is the real time elapsed after the due time (a DST change in
between counts as it happened), 0 when on time. ``--late-penalty P%/day`` (or ``P%/hour``; off
by default, most LMSs apply their own policy) takes P percent of the total per started day (or
hour) late, never more than the total.

The policy is kept in ``OUT/late.json`` so that every later command writing ``grades.csv``
(``--import-manual``, ``--merge``, the LMS export) shows the same columns; ``--due off`` removes it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labkit_course.grading.course import GradingError
from labkit_course.grading.outputs import atomic_open
from labkit_course.grading.results import Record

__all__ = ["TIME_COLUMNS", "POLICY_FILE", "LATE_COLUMNS", "parse_time", "parse_due", "parse_penalty",
           "iso_utc", "zone_of", "file_time", "LatePolicy", "load_policy", "due_for"]

TIME_COLUMNS = ("submitted_at", "Submitted at", "Submitted", "Last modified (submission)",
                "Submission time", "created_at")
POLICY_FILE = "late.json"
LATE_COLUMNS = ("submitted_at", "submitted_from", "late_by_hours", "late_penalty")
_MOODLE_TIME = "%A, %d %B %Y, %I:%M %p"  # Moodle's grading worksheet: Tuesday, 3 March 2026, 2:15 PM


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise GradingError(f"unknown time zone {name!r}: use an IANA name such as America/New_York "
                           "or an offset such as -05:00") from None


def parse_time(text: str, zone: tzinfo | None) -> datetime:
    """``text`` as an aware time: ISO 8601 (``Z`` or an offset), ISO followed by a zone name,
    or Moodle's ``Tuesday, 3 March 2026, 2:15 PM``; a time without a zone is in ``zone``.

    Raises:
        GradingError: not a time, or no zone to read it in.
    """
    text = text.strip()
    head, _, name = text.partition(" ")
    given = _zone(name) if name and "/" in name or name == "UTC" else None
    try:
        t = datetime.fromisoformat((head if given else text).replace("Z", "+00:00"))
    except ValueError:
        try:
            t = datetime.strptime(text, _MOODLE_TIME)
        except ValueError:
            raise GradingError(f"{text!r} is not a time: write it as ISO 8601, e.g. "
                               "2026-03-07T12:00-05:00 or '2026-03-07T12:00 America/New_York'") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=given or zone) if (given or zone) else t
    if t.tzinfo is None:
        raise GradingError(f"{text!r} has no time zone: add an offset (-05:00) or a zone name")
    return t


def parse_due(text: str) -> tuple[datetime, str]:
    """``--due``: the aware due time and its zone's name (for showing times in it)."""
    t = parse_time(text, None)
    return t, t.tzinfo.key if isinstance(t.tzinfo, ZoneInfo) else t.isoformat()[-6:]


def parse_penalty(text: str) -> tuple[float, float]:
    """``--late-penalty P%/day`` or ``P%/hour`` -> (fraction, hours per step).

    Raises:
        GradingError: another form.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*/\s*(day|hour)\s*", text)
    if not m or not 0 < float(m.group(1)) <= 100:
        raise GradingError(f"--late-penalty {text!r}: write it as P%/day or P%/hour, 0 < P <= 100 "
                           "(e.g. 10%/day)")
    return float(m.group(1)) / 100, 24.0 if m.group(2) == "day" else 1.0


def iso_utc(t: datetime) -> str:
    """The aware time ``t`` as ISO 8601 in UTC (how records and ``late.json`` keep times)."""
    return t.astimezone(timezone.utc).isoformat()


def zone_of(name: str) -> tzinfo:
    """The zone a policy names: an IANA name (``America/New_York``, ``UTC``) or an offset."""
    if "/" in name or name == "UTC":
        return _zone(name)
    return datetime.fromisoformat("2000-01-01T00:00" + name).tzinfo


def file_time(path: Path) -> tuple[str, str]:
    """``(time as ISO UTC, source)`` for the submitted file ``path``: a Gradescope
    ``submission_metadata.json`` beside it or one folder up, else its modification time;
    ``("", "")`` when neither can be read."""
    for folder in (path.parent, path.parent.parent):
        meta = folder / "submission_metadata.json"
        try:
            created = json.loads(meta.read_text()).get("created_at", "")
        except (OSError, ValueError, AttributeError):
            continue
        try:
            return iso_utc(parse_time(str(created), timezone.utc)), "gradescope"
        except GradingError:
            continue
    try:
        return iso_utc(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)), "mtime"
    except OSError:
        return "", ""


@dataclass
class LatePolicy:
    """The due time, per-student due times, LMS submission times and the penalty.

    Attributes:
        due: the due time (ISO, UTC).
        zone: where times are shown (an IANA name or an offset).
        penalty: ``--late-penalty`` as given ("" = none).
        dues: student -> their own due time (ISO, UTC), from the roster.
        times: student -> submission time from the LMS (ISO, UTC).
    """

    due: str
    zone: str
    penalty: str = ""
    dues: dict[str, str] = field(default_factory=dict)
    times: dict[str, str] = field(default_factory=dict)

    def save(self, out: Path) -> Path:
        """Write ``out/late.json`` atomically; return its path."""
        path = out / POLICY_FILE
        with atomic_open(path) as f:
            json.dump(asdict(self), f, indent=1)
        return path

    def show(self, iso: str) -> str:
        """The ISO UTC time ``iso`` in the policy's zone (ISO 8601 with its offset)."""
        return datetime.fromisoformat(iso).astimezone(zone_of(self.zone)).isoformat(timespec="seconds")

    def submitted(self, rec: Record) -> tuple[str, str]:
        """``(ISO UTC, source)`` of ``rec``'s submission ("" when unknown)."""
        if rec.student in self.times:
            return self.times[rec.student], "lms"
        return rec.submitted_at, rec.submitted_from

    def late_hours(self, rec: Record) -> float | None:
        """Hours ``rec`` came in after its due time (0 when on time; None: time unknown)."""
        at, _ = self.submitted(rec)
        if not at:
            return None
        due = datetime.fromisoformat(self.dues.get(rec.student, self.due))
        seconds = (datetime.fromisoformat(at) - due).total_seconds()  # both UTC: real elapsed time
        return max(0.0, seconds / 3600)

    def penalty_points(self, rec: Record) -> float:
        """Points taken off ``rec``'s total for lateness (0 without a penalty)."""
        hours = self.late_hours(rec)
        if not self.penalty or not hours:
            return 0.0
        fraction, step = parse_penalty(self.penalty)
        return rec.total * min(1.0, fraction * math.ceil(hours / step - 1e-9))

    def columns(self, records: dict[str, Record]) -> dict[str, dict[str, str]]:
        """``grades.csv``'s late columns (:data:`LATE_COLUMNS`): column -> student -> cell."""
        cols: dict[str, dict[str, str]] = {c: {} for c in LATE_COLUMNS}
        for s, rec in records.items():
            if rec.status == "missing":
                continue
            at, source = self.submitted(rec)
            hours = self.late_hours(rec)
            cols["submitted_at"][s] = self.show(at) if at else ""
            cols["submitted_from"][s] = source
            cols["late_by_hours"][s] = "" if hours is None else f"{round(hours, 2):g}"
            cols["late_penalty"][s] = f"{round(self.penalty_points(rec), 2):g}" \
                if self.penalty and hours is not None else ""
        return cols

    def note(self, rec: Record) -> str:
        """A short line for the student: how late, and the penalty ("" when on time)."""
        hours = self.late_hours(rec)
        if not hours:
            return ""
        points = self.penalty_points(rec)
        return f"late by {hours:.1f} h" + (f": -{round(points, 2):g} points ({self.penalty})" if points else "")


def load_policy(out: Path) -> LatePolicy | None:
    """``out/late.json``, or None when no due time was given."""
    path = out / POLICY_FILE
    if not path.is_file():
        return None
    return LatePolicy(**json.loads(path.read_text()))


def due_for(row: dict[str, str], due: datetime, zone: tzinfo | None) -> datetime:
    """The due time of a roster ``row``: its ``due`` column, else ``due`` plus its
    ``extension_hours`` (or ``extension``) column, else ``due``.

    Raises:
        GradingError: a cell that is not a time or a number of hours.
    """
    if row.get("due"):
        return parse_time(row["due"], zone)
    ext = row.get("extension_hours") or row.get("extension") or ""
    if not ext:
        return due
    try:
        return due + timedelta(hours=float(ext))
    except ValueError:
        raise GradingError(f"extension {ext!r} is not a number of hours") from None
