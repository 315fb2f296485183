"""The student bundle: what an instructor hands out (``labkit release --bundle PATH.zip``).

One zip with a single folder ``<assignment>/`` holding

* the release notebook (``release/<assignment>/``, as ``labkit release`` generated it),
* a labkit wheel (``labkit-<version>-py3-none-any.whl``: only the ``labkit`` package, the tiny
  model and the dataset checksums inside; no tests, no source notebook),
* ``STUDENTS.md``: how to run it on a laptop (venv + pip + JupyterLab) or on Colab.

The notebook's first cell installs the wheel next to it when ``import labkit`` fails, so on
Colab uploading both files and running the notebook is enough.

:func:`audit_bundle` searches every file of the zip, and every file inside the wheel, with the
one leak audit (:mod:`labkit_course.leaks`, as the release audit and Gradescope do): the source
notebook's solutions and hidden tests, the region markers, and the test suite's reference
solutions (the functions of ``tests/oracle.py``). :func:`make_bundle` writes a bundle only when that audit
passes.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labkit_course.leaks import Secrets, file_texts, find_leaks
from labkit_course.source_notebook import default_assignment, default_course_dir
from labkit_course.wheels import build_wheel, student_project

__all__ = ["BundleReport", "make_bundle", "write_bundle", "audit_bundle", "students_md"]


def students_md(notebook: str, wheel: str, assignment: str) -> str:
    """The bundle's STUDENTS.md (Markdown)."""
    return f"""# {assignment}: how to run it

This folder holds the notebook **{notebook}** and **{wheel}**, the course's helper package
(`labkit`: data, models, plots and self-checks; it contains no answers). Nothing else is needed:
the tiny dataset is generated on your machine in a few seconds and the tiny model ships inside
the wheel. Keep the two files in the same folder.

## On a laptop (Python 3.11 or newer)

```bash
cd {assignment}
python3 -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
pip install ./{wheel} jupyterlab     # installs torch too (CPU is enough)
jupyter lab {notebook}
```

On Linux without an NVIDIA GPU, first `pip install torch torchvision --index-url
https://download.pytorch.org/whl/cpu` saves a download of about 2 GB of GPU libraries.

## On Google Colab

Open <https://colab.research.google.com>, *File > Upload notebook* and choose **{notebook}**,
then upload **{wheel}** into the file panel (folder icon on the left, *Upload*), and run the
first cell: it installs the wheel when `labkit` is missing. A GPU runtime
(*Runtime > Change runtime type*) makes the full-size profile possible but is not required.

## What to hand in

Fill in every `# YOUR CODE HERE` cell, run the notebook from the top, save it, and submit
**{notebook}** as your course page says. The autograder runs your notebook on small data, so its
numbers differ a little from yours.

Before you upload, check the file: the notebook's last cell (`lk.check_submission()`) or, in a
terminal, `python -m labkit.submission {notebook}`. It says whether every test cell is there
and unchanged and no answer is left as a stub, then runs the notebook from the top in a fresh
kernel, as the grader will, and lists each visible test that fails. On Colab it checks the
notebook as it is open; upload what *File > Download > Download .ipynb* gives.
"""


@dataclass
class BundleReport:
    """What :func:`make_bundle` wrote and found.

    Attributes:
        path: the bundle (zip); None when the audit failed and nothing was written.
        members: the zip's file names.
        wheel: the wheel's file name.
        size, wheel_size: bytes.
        problems: leaks and unexpected wheel contents (empty = audit passed).
    """

    path: Path | None
    members: list[str] = field(default_factory=list)
    wheel: str = ""
    size: int = 0
    wheel_size: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.path is not None

    def summary(self) -> str:
        """A few lines for the instructor."""
        if self.problems:
            lines = [f"BUNDLE AUDIT FAILED: {len(self.problems)} problem(s); no bundle written:"]
            return "\n".join(lines + [f"  {p}" for p in self.problems[:30]])
        return (f"student bundle: {self.path} ({self.size / 1e6:.2f} MB; wheel {self.wheel} "
                f"{self.wheel_size / 1e6:.2f} MB)\n  " + "\n  ".join(self.members)
                + "\n  bundle audit passed: no solution, hidden-test or oracle text in the zip or the wheel")


def write_bundle(
    path: str | Path,
    *,
    course_dir: str | Path | None = None,
    assignment: str | None = None,
    project: str | Path | None = None,
) -> BundleReport:
    """Write the bundle zip (not audited; see :func:`make_bundle`) and return its report."""
    course_dir = Path(course_dir or default_course_dir()).resolve()
    assignment = assignment or default_assignment(course_dir)
    release_dir = course_dir / "release" / assignment
    notebook = release_dir / f"{assignment}.ipynb"
    if not notebook.is_file():
        raise FileNotFoundError(f"no release notebook at {notebook}: run `labkit release` first")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-bundle-") as tmp:
        wheel = build_wheel(tmp, project=project)
        files = {f"{assignment}/{p.relative_to(release_dir).as_posix()}": p
                 for p in sorted(release_dir.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}
        files[f"{assignment}/{wheel.name}"] = wheel
        text = students_md(notebook.name, wheel.name, assignment)
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
                for name, src in files.items():
                    z.write(src, name)
                z.writestr(f"{assignment}/STUDENTS.md", text)
            os.chmod(partial, 0o644)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        wheel_size = wheel.stat().st_size
    with zipfile.ZipFile(path) as z:
        members = z.namelist()
    return BundleReport(path, members, wheel.name, path.stat().st_size, wheel_size)


def _wheel_problems(data: bytes, name: str) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    extra = [n for n in names if not (n.startswith("labkit/") or n.split("/")[0].endswith(".dist-info"))]
    problems = [f"{name} holds {n} (a wheel must hold only labkit/)" for n in extra]
    if not any(n == "labkit/assets/vgg_tiny.pth" for n in names):
        problems.append(f"{name} lacks labkit/assets/vgg_tiny.pth (the shipped tiny model)")
    return problems


def audit_bundle(
    path: str | Path,
    *,
    source_nb: nbformat.NotebookNode,
    oracle: str | Path | None = None,
) -> list[str]:
    """Search the whole bundle, inside its wheel too, for what students must not get: the
    source notebook's solutions and hidden tests and the test suite's oracle, by the one leak
    audit (:mod:`labkit_course.leaks`); and check the wheel holds only the student package.

    Args:
        path: the bundle zip.
        source_nb: the source notebook (its solution and hidden-test regions are secret).
        oracle: ``tests/oracle.py`` (None: not searched).

    Returns:
        One line per problem ("<file>[!<member>]: ..."), empty when the bundle is clean.
    """
    secrets = Secrets.of(source_nb, oracle)
    problems: list[str] = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith(".whl"):
                problems += _wheel_problems(data, name)
            problems += find_leaks(file_texts(data, name), secrets)
    return problems


def make_bundle(
    path: str | Path,
    *,
    course_dir: str | Path | None = None,
    assignment: str | None = None,
    project: str | Path | None = None,
    oracle: str | Path | None = None,
) -> BundleReport:
    """Write the student bundle to ``path`` and audit it; on a failed audit the zip is removed.

    Args:
        path: the zip to write.
        course_dir: the nbgrader course (default: the repository's ``notebooks/``); its
            ``release/<assignment>/`` goes into the bundle, its source notebook defines the secrets.
        assignment: the assignment name.
        project: the labkit source tree for the wheel (default :func:`~labkit_course.wheels.student_project`).
        oracle: the test suite's reference solutions (default ``<project>/tests/oracle.py`` when
            it exists).
    """
    course_dir = Path(course_dir or default_course_dir()).resolve()
    assignment = assignment or default_assignment(course_dir)
    project = Path(project) if project is not None else student_project()
    if oracle is None and (project / "tests" / "oracle.py").is_file():
        oracle = project / "tests" / "oracle.py"
    report = write_bundle(path, course_dir=course_dir, assignment=assignment, project=project)
    source_nb = nbformat.read(course_dir / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    report.problems = audit_bundle(report.path, source_nb=source_nb, oracle=oracle)
    if report.problems:
        report.path.unlink()
        report.path = None
    return report
