"""Rosters (``labkit grade --roster FILE``) and matching graded students to their rows.

A roster is one of three kinds, told apart by its header:

* **plain**: a ``student`` (or ``id``) column of labkit ids (the ids taken from file names);
* **canvas**: Canvas's gradebook export: ``Student, ID``, optionally ``SIS User ID, SIS Login ID``
  (and ``Integration ID``, ``Root Account``), then ``Section``, then one column per assignment
  named ``Title (id)``; a second row starting ``Points Possible``;
* **moodle**: Moodle's grade export: user fields (``First name, Last name, ID number,
  Institution, Department, Email address``, ``Username``...), then one column per grade item
  (``Assignment: Lab 1 (Real)``).

Graded students are matched to rows of an LMS roster by the first of these rules that picks
exactly one row (:func:`match_roster`):

1. ``id``: the student's id equals one of the row's identifiers (Canvas ``ID``, ``SIS User
   ID``, ``SIS Login ID``; Moodle ``ID number``, ``Email address``, ``Username``), compared
   on letters and digits only, ignoring case (``jdoe@mit.edu`` and the id ``jdoe-mit-edu``
   match);
2. ``number in file name`` (Canvas only): a number in the submitted file's name equals the
   row's Canvas ``ID``. Canvas names bulk-downloaded files ``lastfirst_<n>_<n>_<name>``
   (``_late_`` after the name when late); which number is the user id is not documented, so
   any number of the name may match, and only one row may;
3. ``name in file name``: the letters before the first ``_`` of the file name equal the row's
   name with only its letters and digits, last name first or first name first (Canvas
   ``Doe, Jane`` and Moodle ``Jane``/``Doe`` both give ``doejane``).

When rules 2 and 3 both pick a row and the rows differ, the student is not matched. A row that
two students match is matched to neither. Students not matched and rows without a student are
listed (:class:`Matching`), never dropped. ``--id-pattern`` decides the ids themselves: with
``'_(?P<student>\\d+)_\\d+_'`` a Canvas file's first number becomes the id, and rule 1 applies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from labkit_course.grading.course import GradingError
from labkit_course.grading.results import Record
from labkit_course.grading.sheets import read_csv

__all__ = ["Roster", "Matching", "read_roster", "canvas_identity_count", "match_roster"]

# Canvas's own names for the columns that are not assignments (canvas-lms
# lib/gradebook_importer.rb, NON_ASSIGNMENT_COLUMN_HEADERS; "Unposted ..." variants included)
_CANVAS_NOT_ASSIGNMENT = re.compile(
    r"Current Score|Current Points|Current Grade|Final Score|Final Points|Final Grade|"
    r"Override Score|Override Grade|Override Status")
_CANVAS_SKIP_ROW = re.compile(r"^\s*(Muted|Manual Posting.*)?\s*$", re.I)
# Moodle's user fields in a grade export (grade/export: the profile fields a TA may include)
_MOODLE_USER_FIELDS = {"first name", "last name", "id number", "institution", "department",
                       "email address", "username", "user id", "phone", "mobile phone", "city",
                       "country", "address", "groups", "last downloaded from this course"}
_MOODLE_IDS = ("ID number", "Email address", "Username")  # Moodle's "Map from" choices
_CANVAS_IDS = ("SIS Login ID", "SIS User ID", "ID")


def canvas_identity_count(header: list[str]) -> int | None:
    """How many leading columns of ``header`` Canvas reads as the student's identity (the
    last one must name ``Section``), or None when Canvas would refuse it ("Invalid header
    row"). The rule of canvas-lms ``GradebookImporter#header?`` and ``#update_column_count``."""
    if len(header) > 3 and "Student" in header[0] and "ID" in header[1]:
        n = 3
    elif len(header) > 4 and "LastName" in header[0] and "FirstName" in header[1] and "ID" in header[2]:
        n = 4
    else:
        return None
    i = n - 1
    if re.search(r"SIS\s+Login\s+ID", header[i]):
        n += 1
    elif (re.search(r"SIS\s+User\s+ID", header[i]) and i + 1 < len(header)
          and re.search(r"SIS\s+Login\s+ID", header[i + 1])):
        extra = 1 if i + 2 < len(header) and re.search(r"Integration\s+ID", header[i + 2]) else 0
        n += 2 + extra
        if i + 2 + extra < len(header) and re.search(r"Root\s+Account", header[i + 2 + extra]):
            n += 1
    return n if n <= len(header) and "Section" in header[n - 1] else None


def _squash(text: str) -> str:
    """``text``'s letters and digits, NFC, case-folded (what the matching rules compare)."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalnum())


@dataclass
class Roster:
    """A roster file, read (see the module docstring).

    Attributes:
        path: the file.
        kind: ``plain``, ``canvas`` or ``moodle``.
        header: its column names, in order.
        rows: one dict per student row (column -> stripped cell).
        identity: the columns that identify a student (Canvas: through ``Section``).
        points_possible: Canvas's ``Points Possible`` row (column -> cell), if it has one.
    """

    path: Path
    kind: str
    header: list[str]
    rows: list[dict[str, str]]
    identity: list[str]
    points_possible: dict[str, str] = field(default_factory=dict)

    def plain_ids(self) -> list[str]:
        """The labkit ids of a plain roster (NFC); [] for an LMS roster (its rows are matched)."""
        if self.kind != "plain":
            return []
        col = self.identity[0]
        return [unicodedata.normalize("NFC", r[col]) for r in self.rows if r.get(col)]

    def key(self, i: int) -> str:
        """A short, stable id for row ``i``: its SIS login, SIS user id or Canvas id; its
        Moodle ID number, email or username; a plain roster's id."""
        row = self.rows[i]
        cols = {"canvas": _CANVAS_IDS, "moodle": _MOODLE_IDS}.get(self.kind, self.identity)
        return unicodedata.normalize("NFC", next((row[c] for c in cols if row.get(c)), f"row {i + 2}"))

    def name(self, i: int) -> str:
        """Row ``i``'s student name as the LMS writes it ("" for a plain roster)."""
        row = self.rows[i]
        if self.kind == "canvas":
            return row.get("Student", "") or f"{row.get('LastName', '')}, {row.get('FirstName', '')}"
        if self.kind == "moodle":
            return f"{row.get('First name', '')} {row.get('Last name', '')}".strip()
        return ""

    def candidates(self) -> list[str]:
        """The columns that may be the assignment's (not identity, not a total or a
        feedback column); Canvas: those named ``Title (id)`` when any is."""
        rest = [c for c in self.header if c not in self.identity]
        if self.kind == "canvas":
            rest = [c for c in rest if not _CANVAS_NOT_ASSIGNMENT.search(c)]
            with_id = [c for c in rest if re.search(r"\s\(\d+\)$", c)]
            return with_id or rest
        if self.kind == "moodle":
            return [c for c in rest if c.casefold() not in _MOODLE_USER_FIELDS
                    and not c.endswith("(Feedback)") and not c.casefold().startswith("course total")]
        return rest

    def assignment_column(self, wanted: str | None) -> str:
        """The assignment's column: ``wanted`` (exactly, else the one candidate containing it,
        ignoring case), or the only candidate.

        Raises:
            GradingError: none or several fit; the message lists the candidates.
        """
        cands = self.candidates()
        listed = ", ".join(repr(c) for c in cands) or "none"
        if wanted:
            if wanted in self.header and wanted not in self.identity:
                return wanted
            fits = [c for c in cands if wanted.casefold() in c.casefold()]
            if len(fits) == 1:
                return fits[0]
            raise GradingError(f"--assignment-column {wanted!r} names {len(fits) or 'no'} column(s) of "
                               f"{self.path}; its assignment columns: {listed}")
        if len(cands) == 1:
            return cands[0]
        raise GradingError(f"{self.path} has {len(cands) or 'no'} assignment columns ({listed}): pass "
                           "--assignment-column NAME (create the assignment in the LMS and export "
                           "the gradebook again if it is missing)")

    def ids_of(self, i: int) -> set[str]:
        """Row ``i``'s identifiers, squashed (matching rule 1)."""
        cols = {"canvas": _CANVAS_IDS, "moodle": _MOODLE_IDS}.get(self.kind, self.identity)
        return {_squash(self.rows[i][c]) for c in cols if self.rows[i].get(c)} - {""}

    def names_of(self, i: int) -> set[str]:
        """Row ``i``'s name, squashed, last name first and first name first (rule 3)."""
        row = self.rows[i]
        if self.kind == "canvas" and row.get("Student"):
            last, _, first = row["Student"].partition(",")
        elif self.kind == "canvas":
            last, first = row.get("LastName", ""), row.get("FirstName", "")
        elif self.kind == "moodle":
            last, first = row.get("Last name", ""), row.get("First name", "")
        else:
            return set()
        return {_squash(last + first), _squash(first + last)} - {""}


def read_roster(path: Path) -> Roster:
    """Read the roster CSV ``path`` (UTF-8, with or without a byte-order mark; see
    :func:`labkit_course.grading.sheets.read_csv`) and tell its kind.

    Raises:
        GradingError: the header is none of the three kinds; the message says what each needs.
    """
    header, rows = read_csv(path)
    n = canvas_identity_count(header)
    if n is not None:
        points = next((r for r in rows if "Points Possible" in r.get(header[0], "")), {})
        rows = [r for r in rows if r is not points and not all(_CANVAS_SKIP_ROW.match(v or "") for v in r.values())]
        return Roster(path, "canvas", header, rows, header[:n], points)
    col = next((c for c in ("student", "id") if c in header), None)
    if col is None and any(c in header for c in _MOODLE_IDS):
        identity = [c for c in header if c.casefold() in _MOODLE_USER_FIELDS]
        return Roster(path, "moodle", header, [r for r in rows if any(r.values())], identity)
    if col is None:
        raise GradingError(f"{path} is not a roster labkit reads (columns {header}): it needs a "
                           "'student' or 'id' column of labkit ids, or be Canvas's gradebook export "
                           "(Student, ID, ..., Section) or Moodle's grade export (ID number, Email "
                           "address or Username)")
    return Roster(path, "plain", header, [r for r in rows if r.get(col)], [col])


@dataclass
class Matching:
    """Graded students matched to roster rows.

    Attributes:
        rows: row index -> (student, the rule that matched it).
        unmatched: student -> why it matches no row.
        missing: indices of rows without a student (in roster order).
    """

    rows: dict[int, tuple[str, str]]
    unmatched: dict[str, str]
    missing: list[int]


def _file_name(rec: Record) -> str:
    return PurePath(rec.source_file).name if rec.source_file else rec.student


def _one(found: set[int]) -> int | None:
    return next(iter(found)) if len(found) == 1 else None


def match_roster(roster: Roster, records: dict[str, Record]) -> Matching:
    """Match ``records`` (student -> Record) to ``roster``'s rows (rules in the module docstring)."""
    ids = {i: roster.ids_of(i) for i in range(len(roster.rows))}
    names = {i: roster.names_of(i) for i in range(len(roster.rows))}
    canvas_ids = {i: roster.rows[i].get("ID", "") for i in ids} if roster.kind == "canvas" else {}
    picked: dict[str, tuple[int, str]] = {}
    unmatched: dict[str, str] = {}
    for student in sorted(records):
        fname = _file_name(records[student])
        by_id = _one({i for i, keys in ids.items() if _squash(student) in keys})
        if by_id is not None:
            picked[student] = (by_id, "id")
            continue
        numbers = set(re.findall(r"\d+", PurePath(fname).stem))
        by_number = _one({i for i, cid in canvas_ids.items() if cid and cid in numbers})
        lead = _squash(PurePath(fname).stem.split("_", 1)[0])
        by_name = _one({i for i, keys in names.items() if lead and lead in keys})
        if by_number is not None and by_name is not None and by_number != by_name:
            unmatched[student] = (f"the number in {fname!r} is {roster.name(by_number)!r}'s id but "
                                  f"the name is {roster.name(by_name)!r}'s")
        elif by_number is not None:
            picked[student] = (by_number, "number in file name")
        elif by_name is not None:
            picked[student] = (by_name, "name in file name")
        else:
            unmatched[student] = f"no roster row has its id, a number or the name of {fname!r}"
    claims: dict[int, list[str]] = {}
    for student, (i, _) in picked.items():
        claims.setdefault(i, []).append(student)
    rows: dict[int, tuple[str, str]] = {}
    for i, students in claims.items():
        if len(students) == 1:
            rows[i] = (students[0], picked[students[0]][1])
            continue
        for s in students:
            others = ", ".join(o for o in students if o != s)
            unmatched[s] = f"{roster.name(i) or roster.key(i)!r} is matched by {others} too"
    missing = [i for i in range(len(roster.rows)) if i not in rows]
    return Matching(rows, dict(sorted(unmatched.items())), missing)
