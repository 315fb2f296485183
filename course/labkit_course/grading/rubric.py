"""The rubric of the free-text answers: ``<course>/source/<assignment>/rubric.toml``.

One table per free-text answer, named by its grade id, with an array of items; each item is
credit a grader gives (``points`` > 0) with the ``comment`` the student sees on the feedback
page. A question's items add up to its points, so an answer that earns every item gets full
marks and one that earns none gets 0::

    [[q1_answer]]
    id = "a"
    points = 2
    comment = "The distributions are centred at zero and symmetric."

A record stores the item ids a grader applied, never their points: the score is always the
sum of the current rubric's items (:func:`score_items`), so changing an item's points
re-scores every student who got it. The file stays out of the release and out of the
source's hash (editing it never forces a regrade).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RUBRIC_FILE", "RubricError", "RubricItem", "Rubric", "load_rubric", "rubric_problems",
           "score_items"]

RUBRIC_FILE = "rubric.toml"


class RubricError(ValueError):
    """The rubric file cannot be read, or items applied to an answer do not fit the rubric."""


@dataclass(frozen=True)
class RubricItem:
    """One rubric item: its ``id`` (unique within its question), the ``points`` it is worth
    (> 0) and the ``comment`` the student sees."""

    id: str
    points: float
    comment: str


@dataclass
class Rubric:
    """grade id of a free-text answer -> its items, in file order (empty: no rubric)."""

    questions: dict[str, list[RubricItem]] = field(default_factory=dict)

    def items(self, grade_id: str) -> dict[str, RubricItem]:
        """The items of ``grade_id`` by id ({} when it has no rubric)."""
        return {i.id: i for i in self.questions.get(grade_id, [])}


def load_rubric(path: Path) -> Rubric:
    """Read the rubric at ``path``; an empty :class:`Rubric` when there is no such file.

    Raises:
        RubricError: not TOML, or an item without a string ``id``, a number ``points`` or a
            string ``comment``.
    """
    if not path.is_file():
        return Rubric()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path} is not valid TOML ({exc}): fix it and run again") from None
    rubric = Rubric()
    for gid, items in data.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise RubricError(f"{path}: {gid!r} must be an array of items ([[{gid}]] tables)")
        parsed = []
        for n, item in enumerate(items, start=1):
            iid, points, comment = item.get("id"), item.get("points"), item.get("comment")
            if (not isinstance(iid, str) or not iid.strip() or isinstance(points, bool)
                    or not isinstance(points, (int, float)) or not isinstance(comment, str)):
                raise RubricError(f"{path}: item {n} of {gid!r} needs id (text), points (a "
                                  f"number) and comment (text); found {item}")
            parsed.append(RubricItem(iid.strip(), float(points), comment))
        rubric.questions[gid] = parsed
    return rubric


def rubric_problems(rubric: Rubric, points: dict[str, float]) -> list[str]:
    """What is wrong with ``rubric`` for free-text answers ``points`` (grade id -> points):
    a question that is not a free-text answer, an item id used twice in a question, an item
    not worth more than 0, or items that do not add up to the question's points."""
    problems = []
    for gid, items in rubric.questions.items():
        if gid not in points:
            problems.append(f"{gid}: not a free-text answer of the notebook (one of {sorted(points)})")
            continue
        ids = [i.id for i in items]
        problems += [f"{gid}: item id {d!r} used twice" for d in sorted({d for d in ids if ids.count(d) > 1})]
        problems += [f"{gid}: item {i.id!r} is worth {i.points:g} points; items are credit (> 0)"
                     for i in items if i.points <= 0]
        total = sum(i.points for i in items)
        if abs(total - points[gid]) > 1e-9:
            problems.append(f"{gid}: items add up to {total:g} points, the question has {points[gid]:g}")
    return problems


def score_items(rubric: Rubric, grade_id: str, item_ids: list[str], max_points: float) -> float:
    """The points of the items ``item_ids`` applied to answer ``grade_id``.

    Raises:
        RubricError: an item the question's rubric does not have, an item applied twice, or
            items worth more than ``max_points``.
    """
    items = rubric.items(grade_id)
    unknown = [i for i in item_ids if i not in items]
    if unknown:
        raise RubricError(f"unknown rubric item(s) {', '.join(map(repr, unknown))} for {grade_id} "
                          f"(one of {', '.join(items) or 'none: it has no rubric'})")
    twice = sorted({i for i in item_ids if item_ids.count(i) > 1})
    if twice:
        raise RubricError(f"item(s) {', '.join(map(repr, twice))} applied twice to {grade_id}")
    total = sum(items[i].points for i in item_ids)
    if total > max_points + 1e-9:
        raise RubricError(f"items {';'.join(item_ids)} are worth {total:g} points, over the "
                          f"{max_points:g} of {grade_id}")
    return total
