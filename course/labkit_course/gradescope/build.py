"""Build a Gradescope autograder zip from an nbgrader course: ``labkit gradescope --out ZIP``.

The zip holds::

    setup.sh          installs Python, the two wheels and their dependencies; prepares the course
    run_autograder    grades /autograder/submission into /autograder/results/results.json
    labkit.json       the assignment and the grading limits
    labkit-*.whl      the student package (built from this checkout, or --wheel)
    labkit_course-*.whl  the course tools (the grader; built from this checkout)
    course/           nbgrader_config.py and source/<assignment>/ (the source notebook)

The source notebook is the only member with hidden tests (the grader needs them); setup.sh
makes it readable by root only and the student's kernel runs as ``nobody``.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import nbformat

from labkit_course.grading.course import GradingError, prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.leaks import Secrets, file_texts, find_leaks
from labkit_course.wheels import build_wheel, build_wheels, course_project

__all__ = ["build_autograder", "SETUP_SH", "RUN_AUTOGRADER"]

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the image.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null || ! python3 -c 'import sys; assert sys.version_info >= (3, 11)'; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip
fi
python3 -c 'import sys; assert sys.version_info >= (3, 11), "labkit needs Python >= 3.11: choose the Ubuntu 24.04 base image"'
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --extra-index-url {index} {wheels}
AUTOGRADER_ROOT=/autograder /autograder/venv/bin/python -m labkit_course.gradescope.run --setup
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root. AUTOGRADER_ROOT moves /autograder
# (tests); LABKIT_PYTHON picks another interpreter with labkit installed.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export AUTOGRADER_ROOT="$ROOT"
exec "${LABKIT_PYTHON:-$ROOT/venv/bin/python}" -m labkit_course.gradescope.run
"""


def build_autograder(course: Path, assignment: str, out_zip: Path, *, wheel: Path | None = None,
                     limits: Limits = Limits(), prepare_data: bool = True,
                     index_url: str = TORCH_CPU_INDEX) -> Path:
    """Write the autograder zip ``out_zip`` for ``assignment`` of the nbgrader course ``course``.

    Args:
        course: the nbgrader course folder (``source/<assignment>/`` + ``nbgrader_config.py``).
        assignment: the assignment name.
        out_zip: the zip to write.
        wheel: labkit's wheel; None builds it from this checkout.
        limits: the grading limits (:class:`labkit_course.grading.limits.Limits`).
        prepare_data: build the tiny profile's data and checkpoint in setup.sh (False for a
            course whose notebook needs no data).
        index_url: extra package index for torch (CPU wheels by default).

    Raises:
        GradingError: the course does not generate (see prepare_master), the wheel cannot be
            built, or a member other than the course source leaks a solution or hidden test
            (:mod:`labkit_course.leaks`).
    """
    course = course.resolve()
    with tempfile.TemporaryDirectory(prefix="labkit-gradescope-build-") as tmp:
        master = prepare_master(course, assignment, Path(tmp) / "check", force=True)  # validates
        try:
            if wheel is None:
                wheels = list(build_wheels(Path(tmp) / "wheel"))
            else:
                wheels = [wheel.resolve(), build_wheel(Path(tmp) / "wheel", project=course_project())]
        except (FileNotFoundError, RuntimeError) as exc:
            raise GradingError(f"{exc}; or pass --wheel labkit-*.whl") from exc
        config = {"assignment": assignment, "notebook": master.notebook, "limits": limits.to_json(),
                  "prepare_data": prepare_data}
        members: dict[str, bytes] = {
            "setup.sh": SETUP_SH.format(index=index_url, wheels=" ".join(f"./{w.name}" for w in wheels)).encode(),
            "run_autograder": RUN_AUTOGRADER.encode(),
            "labkit.json": (json.dumps(config, indent=1) + "\n").encode(),
            **{w.name: w.read_bytes() for w in wheels},
        }
        if (course / "nbgrader_config.py").is_file():
            members["course/nbgrader_config.py"] = (course / "nbgrader_config.py").read_bytes()
        src = course / "source" / assignment
        sources = {f"course/source/{assignment}/{p.relative_to(src).as_posix()}": p.read_bytes()
                   for p in sorted(src.rglob("*")) if p.is_file()
                   and not {".ipynb_checkpoints", "__pycache__"} & set(p.parts)}
        source_nb = nbformat.read(src / f"{master.notebook}.ipynb", as_version=4)
        leaks = find_leaks((t for name, data in members.items() for t in file_texts(data, name)),
                           Secrets.of(source_nb))
        if leaks:  # only the course source may hold solutions and hidden tests
            raise GradingError(f"{len(leaks)} leak(s) outside the course source, e.g. {leaks[0]}: "
                               "the Gradescope zip must ship them only in course/source")
        out_zip.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in {**members, **sources}.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
    return out_zip
