"""The one leak audit (labkit_course.leaks): one rule for the release notebook, the student
bundle and the Gradescope zip."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit_course.leaks import Secrets, find_leaks, notebook_texts

SOURCE = new_notebook(cells=[
    new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    y = x * 2  # double\n    try:\n"
                  "        return y + offset(x)\n    finally:\n        log_call(x)\n"
                  "    ### END SOLUTION"),
    new_code_cell('"""test"""\nassert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(21) == 42\n'
                  "assert f(1) == 2\n### END HIDDEN TESTS"),
    new_code_cell("### BEGIN SOLUTION\nanswer = 0.6\n### END SOLUTION"),
    new_markdown_cell("### BEGIN SOLUTION\nZero-centred weights.\n### END SOLUTION"),
])


def _leaks(*sources: str) -> list[str]:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    return find_leaks(notebook_texts(nb, "nb"), Secrets.of(SOURCE))


def test_two_consecutive_lines_of_a_solution_leak_wherever_they_are_indented():
    planted = "def g(x):\n  if x:\n        y = x * 2  # double\n\n        return y + offset(x)\n"
    assert _leaks(planted) == ["nb cell 1: a solution region of the source notebook: "
                               "'y = x * 2  # double / return y + offset(x)'"]
    assert _leaks("return y + offset(x)\nlog_call(x)")  # pure-syntax lines between them skipped


def test_single_lines_shared_with_ordinary_code_and_pure_syntax_do_not_leak():
    assert _leaks("y = x * 2  # double\nprint(y)") == []  # one line of a longer region
    assert _leaks("try:\n    pass\nfinally:\n    pass") == []  # keywords and punctuation only
    assert _leaks("assert f(1) == 2") == []  # also outside every region: the release shows it


def test_a_one_line_region_leaks_whole_and_markdown_answers_count():
    assert _leaks("  answer = 0.6  ") == ["nb cell 1: a solution region of the source notebook: "
                                         "'answer = 0.6'"]
    md = new_notebook(cells=[new_markdown_cell("Zero-centred weights.")])
    assert find_leaks(notebook_texts(md, "md"), Secrets.of(SOURCE)) == [
        "md cell 1: a solution region of the source notebook: 'Zero-centred weights.'"]


def test_hidden_tests_and_markers_leak():
    assert _leaks("assert f(21) == 42") == [  # its other line is public: this one is all of it
        "nb cell 1: a hidden region of the source notebook: 'assert f(21) == 42'"]
    assert _leaks("x = 1\n### BEGIN HIDDEN TESTS\n") == ["nb cell 1: region marker '### BEGIN HIDDEN TESTS'"]


def test_the_test_suites_oracle_is_secret_too(tmp_path):
    oracle = tmp_path / "oracle.py"
    oracle.write_text('def ref(t):\n    """Docstring."""\n    kept = t.abs() > t.abs().median()\n'
                      "    return t * kept\n")
    secrets = Secrets.of(SOURCE, oracle)
    assert find_leaks([("extra.py", "def mine(t):\n    kept = t.abs() > t.abs().median()\n"
                        "    return t * kept\n")], secrets) == [
        "extra.py: the body of tests/oracle.py's ref(): 'kept = t.abs() > t.abs().median() / return t * kept'"]
    assert find_leaks([("doc.py", '"""Docstring."""')], secrets) == []


def test_the_lab_release_is_clean_and_the_student_package_holds_no_secret():
    """The lab's committed release, and every file of both packages' code, pass the audit
    the bundle and Gradescope run; the audit has something to find."""
    from pathlib import Path

    import labkit

    import labkit_course

    course = Path(__file__).resolve().parents[1] / "notebooks"
    source = nbformat.read(course / "source" / "lab1" / "lab1.ipynb", as_version=4)
    release = nbformat.read(course / "release" / "lab1" / "lab1.ipynb", as_version=4)
    oracle = Path(__file__).with_name("oracle.py")
    secrets = Secrets.of(source, oracle)
    assert len(secrets) > 200
    code = [(str(p), p.read_text()) for pkg in (labkit, labkit_course)
            for p in Path(pkg.__file__).parent.rglob("*.py")]
    assert find_leaks(notebook_texts(release, "release") + code, secrets) == []
