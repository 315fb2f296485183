"""Similarity evidence (labkit_course.grading.similarity, .similarity_page, `labkit similarity`):
pairs ranked by rare shared content, the release's text left out, known solutions flagged."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import nbformat
import pytest

from labkit_course.cli import main
from labkit_course.grading.course import prepare_master
from labkit_course.grading.results import Record, write_record
from labkit_course.grading.similarity_inputs import evidence_for_out

TOY = Path(__file__).parent / "fixtures" / "toy"
SOURCE = TOY / "source" / "toy" / "toy.ipynb"
REGION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)

REFERENCE_TOPK = None  # the source's four lines, read below
OFF_BY_ONE = "        threshold = t.abs().flatten().kthvalue(t.numel() - k).values\n"
COPIER_SPARSITY = "    zeros = t.numel() - torch.count_nonzero(t).item()  # counted the long way\n" \
                  "    return zeros / max(t.numel(), 1)\n"
COPIER_TOPK = "    order = torch.argsort(t.abs().flatten(), descending=True)[:k]\n" \
              "    flat = torch.zeros(t.numel(), dtype=t.dtype)\n    flat[order] = 1\n" \
              "    return flat.view_as(t)\n"


def _solution(gid: str) -> tuple[str, str]:
    """(the source cell, its solution region's lines) of grade id ``gid``."""
    cell = next(c for c in nbformat.read(SOURCE, as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    return cell.source, REGION.search(cell.source + "\n").group(1)


def _answer(gid: str, lines: str) -> str:
    """The cell as a student hands it in: the release's text around ``lines``."""
    source, _ = _solution(gid)
    return REGION.sub(lambda _: lines, source + "\n").rstrip("\n")


def _record(student: str, sparsity: str | None, topk: str | None, q1: str) -> Record:
    cells = [{"kind": "code", "grade_id": gid, "source": _answer(gid, lines), "error": "", "output": ""}
             for gid, lines in (("q2_sparsity", sparsity), ("q3_topk", topk)) if lines is not None]
    return Record(student, "graded", answers={"q1_answer": q1}, cells=cells)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A graded toy out folder: six correct students (the reference's four lines), two who
    share an off-by-one line, one who copied a known solution, one who left the release's
    stubs; free text mostly their own."""
    out = tmp_path_factory.mktemp("similarity") / "out"
    prepare_master(TOY, "toy", out, force=False)
    _, ref_sparsity = _solution("q2_sparsity")
    _, ref_topk = _solution("q3_topk")
    wrong = re.sub(r".*kthvalue.*\n", OFF_BY_ONE, ref_topk)
    assert wrong != ref_topk
    own = ["Tiny weights hardly change any activation.", "Zeroing near-zero values costs little.",
           "The output depends mostly on large parameters.", "Removing low magnitudes keeps accuracy.",
           "Small entries contribute small products.", "Least harm to the logits comes first.",
           "We drop what matters least for the result.", "Magnitudes rank how much each one helps."]
    students = [_record(f"correct{i}", ref_sparsity, ref_topk, own[i]) for i in range(6)]
    students += [_record(f"wrong{i}", ref_sparsity, wrong, own[6 + i]) for i in range(2)]
    students.append(_record("copier", COPIER_SPARSITY, COPIER_TOPK,
                            "Magnitude is a cheap proxy for saliency, as Han et al. argued in 2015."))
    students.append(_record("blank", None, None, ""))  # the release's stubs only
    students.append(Record("blank2", "graded", answers={"q1_answer": ""},
                           cells=[{"kind": "code", "grade_id": "q3_topk",
                                   "source": _answer("q3_topk", "    # YOUR CODE HERE\n    raise NotImplementedError()\n")}]))
    for rec in students:
        write_record(rec, out / "results")
    return out


@pytest.fixture(scope="module")
def known(tmp_path_factory) -> Path:
    """A folder with one published notebook: the copier's answers in the release."""
    folder = tmp_path_factory.mktemp("known")
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "q2_sparsity":
            cell.source = _answer(gid, COPIER_SPARSITY)
        elif gid == "q3_topk":
            cell.source = _answer(gid, COPIER_TOPK)
        elif gid == "q1_answer":
            cell.source = "Magnitude is a cheap proxy for saliency, as Han et al. argued in 2015."
        cell.metadata.pop("nbgrader", None)  # published copies carry no nbgrader metadata
    (folder / "published").mkdir()
    nbformat.write(nb, folder / "published" / "lab.ipynb")
    return folder


def test_a_shared_rare_wrong_line_ranks_above_the_shared_reference(out):
    ev, _ = evidence_for_out(out)
    topk = [m for m in ev.matches if m.a.item == "q3_topk"]
    assert {topk[0].a.owner, topk[0].b.owner} == {"wrong0", "wrong1"}
    assert topk[0].rarest == 2  # the off-by-one line: only these two have it
    correct = [m for m in topk if m.a.owner.startswith("correct") and m.b.owner.startswith("correct")]
    assert correct and all(m.identical for m in correct)  # the reference's four lines, every one
    assert topk[0].evidence > max(m.evidence for m in correct)


def test_the_release_text_is_left_out(out):
    ev, _ = evidence_for_out(out)
    owners = {o for m in ev.matches for o in (m.a.owner, m.b.owner)}
    assert "blank" not in owners and "blank2" not in owners  # stubs and scaffold only: nothing to compare
    q1 = [m for m in ev.matches if m.a.item == "q1_answer"]
    assert not q1  # every free-text answer is the student's own


def test_an_answer_equal_to_a_known_solution_is_flagged(out, known):
    assert main(["similarity", str(out), "--known", str(known)]) == 0
    with open(out / "similarity.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["compared"] == "known"]
    copier = [r for r in rows if r["student"] == "copier"]
    assert {r["item"] for r in copier} == {"q1_answer", "q2_sparsity", "q3_topk"}
    assert all(r["other"] == "published/lab.ipynb" and float(r["student_shared"]) == 1.0 for r in copier)
    assert rows[0]["student"] == "copier"  # ranked first: nobody else shares it
    page = (out / "similarity.html").read_text()
    assert "never a score" in page
    assert "100% of the student&#x27;s answer is in the known file" in page


def test_the_page_escapes_student_text_and_needs_no_network(out, tmp_path):
    rec = json.loads((out / "results" / "wrong0.json").read_text())
    rec["answers"]["q1_answer"] = "<script>alert(1)</script> shared by both of us, word for word"
    (out / "results" / "wrong0.json").write_text(json.dumps(rec))
    rec1 = json.loads((out / "results" / "wrong1.json").read_text())
    rec1["answers"]["q1_answer"] = rec["answers"]["q1_answer"]
    (out / "results" / "wrong1.json").write_text(json.dumps(rec1))
    assert main(["similarity", str(out)]) == 0
    page = (out / "similarity.html").read_text()
    assert "<script" not in page and "&lt;" in page and "alert" in page  # escaped, then highlighted
    assert "http://" not in page and "https://" not in page and "<img" not in page


def test_not_a_graded_folder_is_refused_with_what_to_pass(tmp_path, capsys):
    assert main(["similarity", str(tmp_path)]) == 2
    assert "labkit grade" in capsys.readouterr().err


def test_an_unreadable_known_notebook_is_named(out, tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert main(["similarity", str(out), "--known", str(tmp_path)]) == 2
    assert "broken.ipynb (in --known) is not a readable notebook" in capsys.readouterr().err


def test_the_class_benchmark_ranks_its_planted_pair_and_known_copy_first(out, capsys):
    """`labkit bench class` on a class copied from these records (the toy course)."""
    assert main(["bench", "class", "--from", str(out), "--submissions", "24",
                 "--course", str(TOY)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"planted pair: labkit rank 1 of [\d,]+;", printed)
    assert re.search(r"known copy: labkit rank 1 of [\d,]+ ", printed)
    assert "class report:" in printed and "plain copydetect:" in printed
