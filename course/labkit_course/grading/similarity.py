"""Similarity evidence: which pairs of submissions share content that few others share.

For a person to read, never a score: nothing here changes a grade.

Each *item* is one graded answer: a solution cell (by its grade id; the student's code) or a
free-text answer. For every item, each submission's answer is fingerprinted with copydetect
(k-grams of the text, :class:`copydetect.CodeFingerprint`), after

- normalising: code loses its white space; free text its case and everything but letters
  and digits (so re-wrapping or re-formatting changes nothing), and
- removing every fingerprint of the release notebook (copydetect's boilerplate), so the
  scaffold, the comments and the stubs students were given never count.

copydetect's own identifier filtering (every name becomes ``V``) is off: Lab 1's solution
regions are one to four lines, where the names are most of what tells one answer from another;
with them replaced every correct answer is the same string.

A fingerprint's *holders* are the submissions whose answer has it, plus the reference solution
when it has it. A pair's *evidence* is the sum over the fingerprints both answers have of
``1 / (holders - 1)``: a passage only these two share weighs 1 per character, one that forty
share (the standard answer) 1/39. Pairs are found from the fingerprints held by at most
:data:`RARE` submissions, then ranked by evidence; those under :data:`MIN_EVIDENCE` are left
out. Each answer is also compared with every file of a folder of known solutions (notebooks
or ``.py`` files a TA collected, e.g. published solutions): the known file counts as one more
holder.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import hashed_kgrams

from labkit_course.grading.results import Record

__all__ = ["RARE", "K_CODE", "K_TEXT", "MIN_EVIDENCE", "CONTAINED", "Answer", "Match",
           "Evidence", "normalise", "find_evidence"]

RARE = 10  # pairs are found from fingerprints held by at most this many submissions
K_CODE = 12  # k-gram length of code (normalised characters)
K_TEXT = 24  # k-gram length of free text (normalised characters)
MIN_EVIDENCE = 1.0  # matches below this (not one character's worth of rare content) are left out
CONTAINED = 0.9  # an answer with this share of its fingerprints in a known file is "in" it
_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*$", re.M)


def normalise(text: str, kind: str) -> tuple[str, list[int]]:
    """``text`` normalised for fingerprinting (module docstring), with the index in ``text``
    of each kept character.

    Args:
        text: an answer as submitted.
        kind: ``"code"`` (white space dropped) or ``"text"`` (lower case, letters and digits
            only).
    """
    kept, pos = [], []
    for i, ch in enumerate(unicodedata.normalize("NFC", text)):
        if kind == "code" and not ch.isspace():
            kept.append(ch)
        elif kind == "text" and ch.isalnum():
            kept.append(ch.lower() if len(ch.lower()) == 1 else ch)
        else:
            continue
        pos.append(i)
    return "".join(kept), pos


@dataclass
class Answer:
    """One answer to one item, fingerprinted.

    Attributes:
        owner: the student id, or ``known:<file>`` for a known solution.
        item: the grade id.
        kind: ``"code"`` or ``"text"``.
        text: the answer as submitted (NFC).
        norm: :func:`normalise`'s text; ``pos`` its indices into ``text``.
        fingerprint: copydetect's fingerprint of ``norm`` (release fingerprints removed).
        given: for each character of ``norm``, whether a release k-gram covers it (the
            release's own text: never highlighted).
    """

    owner: str
    item: str
    kind: str
    text: str
    norm: str
    pos: list[int]
    fingerprint: CodeFingerprint
    given: list[bool] = field(default_factory=list, repr=False)

    @property
    def hashes(self) -> set:
        return self.fingerprint.hashes


@dataclass
class Match:
    """Two answers to one item that share fingerprints.

    Attributes:
        a, b: the two answers (``b`` may be a known solution's).
        evidence: the rarity-weighted shared length (module docstring).
        rarest: the fewest holders of a fingerprint they share.
        shared: ``(a's, b's)`` share of their own fingerprints found in the other
            (copydetect's similarity).
        holders: for each shared fingerprint, its holders (for highlighting).
    """

    a: Answer
    b: Answer
    evidence: float
    rarest: int
    shared: tuple[float, float]
    holders: dict = field(default_factory=dict, repr=False)

    @property
    def identical(self) -> bool:
        return self.a.norm == self.b.norm

    @property
    def known(self) -> bool:
        return self.b.owner.startswith("known:")

    @property
    def contained(self) -> bool:
        """``a``'s answer is (almost) all in ``b``."""
        return self.shared[0] >= CONTAINED


@dataclass
class Evidence:
    """All matches, best first, and what was compared."""

    matches: list[Match]  # student pairs, by evidence
    known: list[Match]  # a student's answer vs a known file, by evidence
    items: list[str]  # grade ids compared, in notebook order
    students: int
    known_files: list[str]


@dataclass
class _Release:
    """The release's fingerprints of one kind: as copydetect takes them, and as a set."""

    hashes: np.ndarray
    lookup: frozenset


def _fingerprint(owner: str, item: str, kind: str, text: str, release: _Release) -> Answer:
    norm, pos = normalise(text, kind)
    k = K_CODE if kind == "code" else K_TEXT
    fp = CodeFingerprint(f"{owner}.txt", k, 1, release.hashes, filter=False,
                         fp=io.StringIO(norm))
    given = [False] * len(norm)
    if len(norm) >= k:
        for start, h in enumerate(hashed_kgrams(norm, k).tolist()):
            if h in release.lookup:
                given[start:start + k] = [True] * k
    return Answer(owner, item, kind, unicodedata.normalize("NFC", text), norm, pos, fp, given)


def _boilerplate(release: list[tuple[str, str, str]], kind: str) -> _Release:
    k = K_CODE if kind == "code" else K_TEXT
    hashes: set = set()
    for _, _, text in release:
        norm, _ = normalise(text, kind)
        hashes |= CodeFingerprint("release.txt", k, 1, filter=False, fp=io.StringIO(norm)).hashes
    ints = [int(h) for h in hashes]
    return _Release(np.unique(np.array(ints, dtype=np.int64)), frozenset(ints))


def _match(a: Answer, b: Answer, holders: dict) -> Match:
    common = a.hashes & b.hashes
    evidence = float(sum(1.0 / max(holders[h] - 1, 1) for h in common))
    _, shared, _ = compare_files(a.fingerprint, b.fingerprint)
    return Match(a, b, evidence, min(holders[h] for h in common),
                 (float(shared[0]), float(shared[1])), {h: holders[h] for h in common})


def _item_matches(answers: list[Answer], reference: Answer | None,
                  known: list[Answer]) -> tuple[list[Match], list[Match]]:
    holders: dict = {}
    for ans in answers:
        for h in ans.hashes:
            holders[h] = holders.get(h, 0) + 1
    if reference is not None:
        for h in reference.hashes:
            holders[h] = holders.get(h, 0) + 1
    by_hash: dict = {}
    for i, ans in enumerate(answers):
        for h in ans.hashes:
            if holders[h] <= RARE:
                by_hash.setdefault(h, []).append(i)
    pairs = {p for idx in by_hash.values() for p in combinations(idx, 2)}
    matches = [_match(answers[i], answers[j], holders) for i, j in sorted(pairs)]
    known_matches = []
    for kn in known:
        plus_one = {h: holders.get(h, 0) + 1 for h in kn.hashes}
        for ans in answers:
            if ans.hashes & kn.hashes:
                known_matches.append(_match(ans, kn, plus_one))
    return ([m for m in matches if m.evidence >= MIN_EVIDENCE],
            [m for m in known_matches if m.evidence >= MIN_EVIDENCE])


def _rank(m: Match) -> tuple:
    return (-m.evidence, m.a.item, m.a.owner, m.b.owner)


def find_evidence(records: dict[str, Record], release: list[tuple[str, str, str]],
                  source: list[tuple[str, str, str]],
                  known: dict[str, dict[str, str]] | None = None) -> Evidence:
    """Compare every item's answers across ``records`` and with ``known`` (module docstring).

    Args:
        records: student -> Record (cells of kind ``code`` with a grade id, and ``answers``).
        release: :func:`~labkit_course.grading.similarity_inputs.notebook_texts` of the release notebook (its text is excluded).
        source: :func:`~labkit_course.grading.similarity_inputs.notebook_texts` of the source notebook (its solution cells are the
            reference solutions).
        known: :func:`~labkit_course.grading.similarity_inputs.known_texts` of the known solutions, or None.
    """
    boiler = {kind: _boilerplate(release, kind) for kind in ("code", "text")}
    items: dict[str, list[Answer]] = {}
    kinds: dict[str, str] = {}
    for student in sorted(records):
        rec = records[student]
        texts = {c["grade_id"]: c["source"] for c in rec.cells
                 if c.get("kind") == "code" and c.get("grade_id")}
        for gid, text in texts.items():
            kinds.setdefault(gid, "code")
        for gid, text in rec.answers.items():
            kinds.setdefault(gid, "text")
            texts[gid] = text
        for gid, text in texts.items():
            ans = _fingerprint(student, gid, kinds[gid], text, boiler[kinds[gid]])
            if ans.hashes:
                items.setdefault(gid, []).append(ans)
    order = [gid for gid, _, _ in source if gid in items]
    order += sorted(set(items) - set(order))
    refs = {gid: _MARKER.sub("", text) for gid, _, text in source if gid}  # as a student writes it
    known_prints = {kind: [a for name, parts in (known or {}).items() if parts.get(kind)
                           if (a := _fingerprint(f"known:{name}", "", kind, parts[kind],
                                                 boiler[kind])).hashes]
                    for kind in ("code", "text")}  # a known file: all its code, or all its prose
    matches, known_matches = [], []
    for gid in order:
        kind = kinds[gid]
        ref = (_fingerprint("reference", gid, kind, refs[gid], boiler[kind])
               if gid in refs else None)
        m, k = _item_matches(items[gid], ref, known_prints[kind])
        matches += m
        known_matches += k
    return Evidence(sorted(matches, key=_rank), sorted(known_matches, key=_rank), order,
                    len(records), sorted(known or {}))
