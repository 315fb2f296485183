"""Shared fixtures. Tests never touch the real ``data/`` except through ``tiny_checkpoint``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import labkit as lk
import labkit.synthetic as synthetic


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty labkit data folder (``LABKIT_DATA_DIR``), no profile or grading env."""
    root = tmp_path / "labkit-data"
    root.mkdir()
    monkeypatch.setenv("LABKIT_DATA_DIR", str(root))
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return root


@pytest.fixture(scope="session")
def small_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated dataset root (200 train / 100 test images, seed 0); do not modify."""
    root = tmp_path_factory.mktemp("small-cifar")
    synthetic.write_tiny_cifar(root, n_train=200, n_test=100, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint() -> lk.Profile:
    """The real tiny profile with its dataset and the shipped tiny checkpoint.

    Lives under the real data folder (``data/tiny``); ``prepare`` generates the dataset only if
    missing (a few seconds) and copies the checkpoint shipped with labkit (nothing is trained).
    """
    from labkit.prepare import prepare

    return prepare("tiny").profile


@pytest.fixture
def one_thread():
    """Run a test on one torch thread (tiny models gain nothing from threads); restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class WheelVenv:
    """A fresh venv outside the repository with both packages installed from freshly built wheels.

    Attributes:
        root: the venv's folder (a temporary folder, not under the repository).
        python: its interpreter; ``labkit``: its console script.
        wheel: the student package's wheel; ``course_wheel``: the course tools' wheel.
        env: an environment to run them in (the venv's bin first on PATH, no PYTHONPATH).
    """

    root: Path
    python: Path
    labkit: Path
    wheel: Path
    course_wheel: Path
    env: dict[str, str]

    def run(self, *args: str | Path, cwd: Path, timeout: float = 600,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``args`` in the venv; the CompletedProcess has text stdout+stderr in ``stdout``."""
        return subprocess.run([str(a) for a in args], cwd=cwd, env={**self.env, **(extra_env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """Both wheels built by the one builder (:mod:`labkit_course.wheels`) and installed with
    ``--no-deps`` into a fresh venv outside the repository; one per test run.

    The heavy dependencies (torch, nbgrader ...) are not reinstalled: a ``.pth`` line in the new
    venv points at the test venv's site-packages. Lines added that way do not process that
    folder's own ``.pth`` files, so the editable install of the checkout stays inactive and
    ``import labkit`` finds the wheel's copy (checked here).
    """
    from labkit_course.wheels import build_wheels

    work = tmp_path_factory.mktemp("wheel-venv")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheel, course_wheel = build_wheels(work / "dist")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    heavy = Path(torch.__file__).resolve().parents[1]  # the test venv's site-packages
    (site / "_labkit_test_deps.pth").write_text(f"{heavy}\n")
    subprocess.run([*pip, "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel), str(course_wheel)], check=True, cwd=work)
    # console scripts of the dependencies (not installed here): nbgrader runs `alembic`
    alembic = venv / "bin" / "alembic"
    alembic.write_text(f'#!/bin/sh\nexec "{python}" -m alembic "$@"\n')
    alembic.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LABKIT_PROFILE", "NBGRADER_EXECUTION")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    # data files of the dependencies stay in the test venv too (nbconvert's HTML templates)
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(Path(sys.prefix) / "share" / "jupyter"), *filter(None, [env.get("JUPYTER_PATH")])])
    made = WheelVenv(venv, python, venv / "bin" / "labkit", wheel, course_wheel, env)
    for package in ("labkit", "labkit_course"):
        where = made.run(python, "-c", f"import {package}; print({package}.__file__)", cwd=work, timeout=120)
        assert where.returncode == 0, where.stdout
        assert Path(where.stdout.strip()).is_relative_to(venv), f"{package} imported from {where.stdout}"
    return made
