"""``labkit bench class``: the class report and the similarity check on a course-sized class,
and the similarity check side by side with plain copydetect on the same submissions.

The class is made from a graded out folder (``--from``, by default ``make demo``'s
``out/demo/grades``): its records are copied round-robin into ``--submissions`` students and
varied the way a class varies (an identifier of a student's own code renamed to one of three
spellings, free-text sentences reordered and one dropped, grading times scattered). Two
things are planted: two students share a line nobody else wrote, and one student's answers
are a known solution (a notebook in a ``--known`` folder) that nobody else has.

Timed: :func:`~labkit_course.grading.report.write_report` (report.html, stats.csv) and
``labkit similarity`` (:func:`~labkit_course.grading.similarity_inputs.evidence_for_out` and
the page), then plain copydetect as a TA would run it without labkit: each submission's code
cells in one ``.py`` file, the release's code as boilerplate, every file against every other
and the known folder (``CopyDetector``, its default thresholds, its report). The last lines
give both times and where each ranks the planted pair and the known copy.
"""

from __future__ import annotations

import copy
import json
import random
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from labkit_course.grading.course import GradingError, prepare_master
from labkit_course.grading.report import write_report
from labkit_course.grading.results import Record, read_records, write_record
from labkit_course.grading.similarity_inputs import evidence_for_out, notebook_texts
from labkit_course.grading.similarity_page import write_similarity
from labkit_course.source_notebook import default_course_dir

__all__ = ["make_class", "run"]

PLANTED = "    planted_shared = sorted(set(range(7)))[::-3]  # only these two wrote this\n"
_IDENT = re.compile(r"\b[a-z_][a-z0-9_]{3,}\b")


def _vary_code(source: str, release: str, rng: random.Random) -> str:
    """Rename one identifier of the student's own (absent from the release cell) to one of
    three spellings."""
    own = sorted(set(_IDENT.findall(source)) - set(_IDENT.findall(release)))
    if not own or rng.random() < 0.4:
        return source
    name = rng.choice(own)
    return re.sub(rf"\b{re.escape(name)}\b", f"{name}_{rng.choice('abc')}", source)


def _vary_text(text: str, rng: random.Random) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    if len(sentences) > 2:
        sentences.pop(rng.randrange(len(sentences)))
        rng.shuffle(sentences)
    return " ".join(sentences)


def make_class(base: dict[str, Record], release: dict[str, str], n: int, known: Path,
               seed: int = 0) -> tuple[dict[str, Record], tuple[str, str], str]:
    """``n`` students copied from ``base`` and varied (module docstring), with the planted
    pair and the known copy; write the known notebook into ``known``.

    Returns:
        (student -> Record, the planted pair, the known copy's student).
    """
    rng = random.Random(seed)
    graded = [r for r in base.values() if r.status != "missing" and r.cells]
    out = {}
    for i in range(n):
        src = graded[i % len(graded)]
        rec = replace(copy.deepcopy(src), student=f"s{i:03d}",
                      seconds=src.seconds * rng.uniform(0.7, 1.4))
        for cell in rec.cells:
            if cell.get("kind") == "code" and cell.get("grade_id"):
                cell["source"] = _vary_code(cell["source"], release.get(cell["grade_id"], ""), rng)
        rec.answers = {g: _vary_text(t, rng) for g, t in rec.answers.items()}
        out[rec.student] = rec
    pair = (f"s{7 % n:03d}", f"s{(n * 2) // 5:03d}")
    for student in pair:
        cell = next(c for c in out[student].cells if c.get("kind") == "code" and c.get("grade_id"))
        cell["source"] += "\n" + PLANTED
    copier = f"s{(n * 2) // 3:03d}"
    cells = []
    for c in out[copier].cells:
        if c.get("kind") == "code" and c.get("grade_id"):
            c["source"] += f"\n    published_{copier} = 'a line from a published solution'\n"
            cells.append({"cell_type": "code", "metadata": {}, "source": c["source"],
                          "outputs": [], "execution_count": None})
    for gid in out[copier].answers:
        out[copier].answers[gid] = (f"A published answer to {gid}, copied word for word by "
                                    f"one student ({copier}) and nobody else in the class.")
        cells.append({"cell_type": "markdown", "metadata": {}, "source": out[copier].answers[gid]})
    known.mkdir(parents=True, exist_ok=True)
    (known / "published.ipynb").write_text(json.dumps(
        {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return out, pair, copier


def _plain_copydetect(root: Path, records: dict[str, Record], release_nb: Path,
                      known: Path) -> tuple[float, list]:
    """Time plain copydetect on the class (module docstring); return (seconds, its list)."""
    from copydetect import CopyDetector

    subs, boiler, refs = root / "py", root / "boilerplate", root / "known-py"
    for d in (subs, boiler, refs):
        d.mkdir()
    for student, rec in records.items():
        code = [c["source"] for c in rec.cells if c.get("kind") == "code" and c.get("grade_id")]
        (subs / f"{student}.py").write_text("\n\n".join(code))
    (boiler / "release.py").write_text("\n\n".join(t for _, k, t in notebook_texts(release_nb)
                                                    if k == "code"))
    (refs / "published.py").write_text("\n\n".join(t for _, k, t in notebook_texts(
        known / "published.ipynb") if k == "code"))
    start = time.perf_counter()
    det = CopyDetector(test_dirs=[str(subs)], ref_dirs=[str(subs), str(refs)],
                       boilerplate_dirs=[str(boiler)], extensions=["py"], autoopen=False,
                       silent=True, out_file=str(root / "copydetect.html"))
    det.run()
    det.generate_html_report()
    return time.perf_counter() - start, det.get_copied_code_list()


def _rank(pairs: list[tuple[str, str]], wanted: set[str]) -> str:
    for i, p in enumerate(pairs, 1):
        if set(p) == wanted:
            return f"rank {i:,} of {len(pairs):,}"
    return f"not listed ({len(pairs):,} listed)"


def _plain_rank(plain: list, wanted: set[str]) -> str:
    """Where copydetect's list (sorted by similarity, ties in no meaningful order) puts a pair:
    how many pairs are at least as similar."""
    sims = [max(c[0], c[1]) for c in plain if {Path(c[2]).stem, Path(c[3]).stem} == wanted]
    if not sims:
        return f"not listed ({len(plain):,} listed)"
    tied = sum(1 for c in plain if max(c[0], c[1]) >= sims[0])
    return f"tied with or below {tied:,} of {len(plain):,} pairs (similarity {sims[0]:.2f})"


def run(*, source: Path = Path("out/demo/grades"), submissions: int = 300,
        course: Path | None = None, seed: int = 0) -> int:
    """Run the benchmark (module docstring); 2 when ``source`` has no graded records."""
    base = read_records(source / "results") if (source / "results").is_dir() else {}
    if not any(r.cells for r in base.values()):
        print(f"labkit bench class: no graded records in {source / 'results'}: run `make demo` "
              "(it grades the five samples into out/demo/grades) or pass --from OUT")
        return 2
    root = Path(tempfile.mkdtemp(prefix="labkit-bench-class-"))
    out = root / "out"
    assignment = next(iter(sorted((source / "course" / "release").glob("*"))), Path("lab1")).name
    try:
        master = prepare_master(course or default_course_dir(), assignment, out, force=True)
    except GradingError as exc:
        print(f"labkit bench class: {exc}")
        return 2
    release_nb = out / "course" / "release" / assignment / f"{master.notebook}.ipynb"
    release = {g: t for g, _, t in notebook_texts(release_nb) if g}
    records, pair, copier = make_class(base, release, submissions, root / "known", seed)
    for rec in records.values():
        write_record(rec, out / "results")
    print(f"   {submissions} submissions copied from {len(base)} records in {source} and varied; "
          f"planted: a line shared by {pair[0]} and {pair[1]} only, {copier} a copy of "
          f"{root / 'known' / 'published.ipynb'}")
    start = time.perf_counter()
    write_report(records, master, out)
    t_report = time.perf_counter() - start
    print(f"   class report: {t_report:.2f} s ({(out / 'report.html').stat().st_size:,} bytes)")
    start = time.perf_counter()
    ev, _ = evidence_for_out(out, root / "known")
    write_similarity(ev, assignment, out)
    t_ours = time.perf_counter() - start
    t_plain, plain = _plain_copydetect(root, records, release_nb, root / "known")
    ours_pairs = [(m.a.owner, m.b.owner) for m in ev.matches]
    print(f"   labkit similarity: {t_ours:.1f} s; plain copydetect: {t_plain:.1f} s "
          f"({t_ours / t_plain:.2f}x the time)")
    print(f"   planted pair: labkit {_rank(ours_pairs, set(pair))}; plain copydetect "
          f"{_plain_rank(plain, set(pair))}")
    known_ours = [(m.a.owner, m.b.owner.removeprefix("known:").removesuffix(".ipynb"))
                  for m in ev.known]
    print(f"   known copy: labkit {_rank(known_ours, {copier, 'published'})} of the known-file "
          f"matches; plain copydetect {_plain_rank(plain, {copier, 'published'})}")
    print(f"   outputs kept in {root}")
    return 0
