"""The student wheel on Colab's kernel stack: a venv with Colab's pins (ipykernel 5.5.6,
IPython 7.34.0, notebook 6.5.5) and the libraries Colab ships (torch, torchvision, tqdm,
matplotlib, numpy), the wheel installed with pip's resolver, nothing pre-installed changed,
and the release notebook with the reference solutions run on that venv's kernel.

Colab's pinned packages come from ``.venv/colab-wheels`` (``make test`` downloads them); the
libraries Colab ships are the test venv's own, linked into the Colab venv one distribution at a
time (the dependency closure of the six the student package needs), so no torch is downloaded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

from labkit_course.samples import filled_in
from labkit_course.source_notebook import default_course_dir
from labkit_course.wheels import build_wheel

pytestmark = pytest.mark.slow

WHEELHOUSE = Path(sys.prefix) / "colab-wheels"
COLAB_PINS = ("ipykernel==5.5.6", "ipython==7.34.0", "notebook==6.5.5")
COLAB_SHIPS = ("torch", "torchvision", "tqdm", "matplotlib", "numpy", "torchprofile")


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with everything they require (extras
    included where installed: torch needs ``cuda-toolkit[cublas, ...]``)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.split(r"[\s<>=!~;\[(]", todo.pop())[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional or platform-specific requirement this machine lacks
        seen[name] = dist
        todo += list(dist.requires or [])
    return list(seen.values())


def _link_distributions(dists: list[metadata.Distribution], site: Path) -> None:
    """Symlink each distribution's top-level files and its metadata folder into ``site``; a
    distribution already installed there (Colab's pins and theirs) is left as it is."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    have = {norm(d.metadata["Name"]) for d in metadata.distributions(path=[str(site)])}
    for dist in dists:
        if norm(dist.metadata["Name"]) in have:
            continue
        tops = {Path(str(f)).parts[0] for f in (dist.files or []) if not str(f).startswith("..")}
        base = Path(dist.locate_file(""))
        for top in tops:
            if not (site / top).exists() and (base / top).exists():
                (site / top).symlink_to(base / top)


PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]  # run on the venv


def _freeze(python: Path) -> list[str]:
    out = subprocess.run([*PIP, "--python", str(python), "freeze", "--all"],
                         check=True, capture_output=True, text=True).stdout
    return sorted(line for line in out.splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory) -> Path:
    if not any(WHEELHOUSE.glob("ipykernel-5.5.6*")):
        pytest.skip(f"Colab's pinned packages are not in {WHEELHOUSE}: `make test` downloads them")
    work = tmp_path_factory.mktemp("colab")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*PIP, "--python", str(python), "install", "--quiet", "--no-index",
                    "--find-links", str(WHEELHOUSE), *COLAB_PINS], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    _link_distributions(_closure(COLAB_SHIPS), site)
    return venv


def test_the_student_wheel_installs_on_colabs_pins_and_changes_nothing(colab_venv, tmp_path):
    python = colab_venv / "bin" / "python"
    before = _freeze(python)
    assert any(line.startswith("ipykernel==5.5.6") for line in before), before
    wheel = build_wheel(tmp_path / "dist")
    got = subprocess.run([*PIP, "--python", str(python), "install", "--no-index",
                          "--find-links", str(WHEELHOUSE), str(wheel)], capture_output=True, text=True)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    after = _freeze(python)
    added = sorted(set(after) - set(before))
    assert sorted(set(before) - set(after)) == [], "pip changed a pre-installed package"
    assert len(added) == 1 and added[0].startswith("labkit"), added


def test_the_release_notebook_runs_on_colabs_kernel(colab_venv, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    python = colab_venv / "bin" / "python"
    if subprocess.run([str(python), "-c", "import labkit"], capture_output=True).returncode != 0:
        pytest.skip("runs after the install test (the wheel is not installed)")
    kernels = tmp_path / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab pins", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "data"))
    for name in ("LABKIT_PROFILE", "NBGRADER_EXECUTION", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    course = default_course_dir()
    release = nbformat.read(course / "release" / "lab1" / "lab1.ipynb", as_version=4)
    nb = filled_in(nbformat.read(course / "source" / "lab1" / "lab1.ipynb", as_version=4), release)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import IPython, ipykernel\nprint('KERNEL', IPython.__version__, ipykernel.__version__)"))
    NotebookClient(nb, timeout=900, kernel_name="colab",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]
    shown = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "KERNEL 7.34.0 5.5.6" in shown  # the notebook ran on Colab's kernel stack
    assert "labkit profile 'tiny'" in shown, shown[:2000]
