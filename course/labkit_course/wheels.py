"""The repository's two wheels, built one way: the student package and the course tools.

* the student package ``labkit`` (the repository's root: ``pyproject.toml``, ``README.md``,
  ``labkit/``): what the notebook imports, with its six runtime dependencies;
* the course tools ``labkit-course`` (``course/``: ``pyproject.toml``, ``labkit_course/``).

The student bundle ships the first, the Gradescope autograder both, and the tests install
them from here. Only the project's ``pyproject.toml``, its README and its package folder are
copied to a private folder and built there (``pip wheel --no-deps --no-build-isolation
--no-index``): nothing else of the repository can end up in a wheel, and the repository gets
no ``build/`` folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import labkit

__all__ = ["student_project", "course_project", "build_wheel", "build_wheels"]

_PACKAGE = {"labkit": "labkit", "labkit-course": "labkit_course"}  # distribution -> package


def student_project() -> Path:
    """The student package's project folder (the repository's root) this labkit runs from.

    Raises:
        FileNotFoundError: labkit runs from an installed wheel; wheels are built from the
            course repository (``pip install -e . -e ./course`` there).
    """
    return _project(Path(labkit.__file__).resolve().parents[1])


def course_project() -> Path:
    """The course tools' project folder (``course/`` of the repository)."""
    return _project(Path(__file__).resolve().parents[1])


def _project(root: Path) -> Path:
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"no pyproject.toml in {root}: build wheels from the course repository "
            "(pip install -e . -e ./course there), not from installed wheels")
    return root


def build_wheel(out_dir: str | Path, *, project: str | Path | None = None) -> Path:
    """Build the wheel of ``project`` (default: the student package) into ``out_dir``; return
    its path (offline; about 10 s).

    Raises:
        FileNotFoundError: no such project (see :func:`student_project`).
        RuntimeError: pip could not build it (its output is in the message).
    """
    project = Path(project) if project is not None else student_project()
    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    package = _PACKAGE[name]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-wheel-") as tmp:
        stage = Path(tmp) / "src"
        stage.mkdir()
        for file in ("pyproject.toml", "README.md"):
            if (project / file).is_file():
                shutil.copy2(project / file, stage / file)
        shutil.copytree(project / package, stage / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        built = Path(tmp) / "dist"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
             "--quiet", "--disable-pip-version-check", "-w", str(built), str(stage)],
            capture_output=True, text=True, timeout=600)
        wheels = sorted(built.glob(f"{package}-*.whl")) if built.is_dir() else []
        if proc.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building the {name} wheel failed (pip exit {proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        dest = out_dir / wheels[0].name
        shutil.copy2(wheels[0], dest)
    return dest


def build_wheels(out_dir: str | Path) -> tuple[Path, Path]:
    """Build both wheels into ``out_dir``: (student package, course tools)."""
    return build_wheel(out_dir), build_wheel(out_dir, project=course_project())
