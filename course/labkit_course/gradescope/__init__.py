"""Gradescope autograder for a labkit course (course-tools layer).

``labkit gradescope --out autograder.zip`` (:mod:`labkit_course.gradescope.build`) packs the course,
labkit's wheel, ``setup.sh`` and ``run_autograder``. On Gradescope, ``run_autograder`` calls
:func:`labkit_course.gradescope.run.run_autograder`, which grades the notebook in
``/autograder/submission`` with labkit's grader (the same one as ``labkit grade``) and writes
``/autograder/results/results.json``. ``AUTOGRADER_ROOT`` moves ``/autograder`` (tests).
"""

from __future__ import annotations

__all__ = ["build_autograder", "run_autograder", "results_json"]


def __getattr__(name: str):  # imported lazily: the grader pulls in nbgrader
    if name == "build_autograder":
        from labkit_course.gradescope.build import build_autograder

        return build_autograder
    if name in ("run_autograder", "results_json"):
        from labkit_course.gradescope import run

        return getattr(run, name)
    raise AttributeError(name)
