"""The student bundle: contents, the audit (inside the wheel too), and a student's run of it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from labkit_course.bundle import audit_bundle, make_bundle
from labkit_course.leaks import Secrets, oracle_bodies
from labkit.prepare import SHIPPED_TINY_CHECKPOINT
from labkit_course.samples import filled_in
from labkit_course.source_notebook import default_course_dir

REPO = Path(__file__).resolve().parents[1]
ORACLE = REPO / "tests" / "oracle.py"
ASSIGNMENT = "lab1"


def _source_nb() -> nbformat.NotebookNode:
    return nbformat.read(default_course_dir() / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    """`labkit release --bundle`'s bundle of the repository's course (built once: ~10-60 s)."""
    report = make_bundle(tmp_path_factory.mktemp("bundle") / "lab1-students.zip")
    assert report.ok, report.summary()
    return report


def _wheel_names(zip_path: Path, wheel: str) -> list[str]:
    with zipfile.ZipFile(zip_path) as z, zipfile.ZipFile(io.BytesIO(z.read(wheel))) as w:
        return w.namelist()


def test_bundle_holds_the_notebook_the_wheel_and_instructions(bundle) -> None:
    wheel = f"{ASSIGNMENT}/{bundle.wheel}"
    assert bundle.wheel.startswith("labkit-") and bundle.wheel.endswith("-py3-none-any.whl")
    assert sorted(bundle.members) == sorted([f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", wheel, f"{ASSIGNMENT}/STUDENTS.md"])
    release = (default_course_dir() / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    with zipfile.ZipFile(bundle.path) as z:
        assert z.read(f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb") == release
        students = z.read(f"{ASSIGNMENT}/STUDENTS.md").decode()
        with zipfile.ZipFile(io.BytesIO(z.read(wheel))) as w:
            assert w.read("labkit/assets/vgg_tiny.pth") == SHIPPED_TINY_CHECKPOINT.read_bytes()
            assert w.read("labkit/assets/tiny_dataset.sha256")
    for needed in (bundle.wheel, f"{ASSIGNMENT}.ipynb", "python3 -m venv", "pip install", "jupyter lab", "Colab",
                   "first cell"):
        assert needed in students, needed
    tops = {n.split("/")[0] for n in _wheel_names(bundle.path, wheel)}
    assert tops == {"labkit", bundle.wheel.split("-py3")[0] + ".dist-info"}  # only labkit/ (+ metadata)
    assert bundle.size < 2_000_000 and bundle.wheel_size < bundle.size


def _with_member(src: Path, dest: Path, wheel_edits: dict[str, bytes] = {}, edits: dict[str, bytes] = {}) -> Path:
    """A copy of bundle ``src`` with some wheel members and bundle members replaced or added."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dest, "w") as out:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith(".whl") and wheel_edits:
                buf = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as w, zipfile.ZipFile(buf, "w") as w2:
                    for member in w.namelist():
                        w2.writestr(member, wheel_edits.get(member, w.read(member)))
                    for member in set(wheel_edits) - set(w.namelist()):
                        w2.writestr(member, wheel_edits[member])
                data = buf.getvalue()
            out.writestr(name, edits.get(name, data))
        for name in set(edits) - set(z.namelist()):
            out.writestr(name, edits[name])
    return dest


def test_audit_of_the_real_bundle_is_clean(bundle) -> None:
    assert audit_bundle(bundle.path, source_nb=_source_nb(), oracle=ORACLE) == []


def test_audit_finds_a_solution_planted_inside_a_wheel_file(bundle, tmp_path: Path) -> None:
    source_nb = _source_nb()
    run = sorted(r for r in Secrets.of(source_nb).runs if len(r) == 2)[0]  # two lines of one region
    with zipfile.ZipFile(bundle.path) as z, zipfile.ZipFile(io.BytesIO(z.read(f"{ASSIGNMENT}/{bundle.wheel}"))) as w:
        plots = w.read("labkit/plots.py").decode()
    planted = plots + "\n\ndef _helper(x):\n" + "".join(f"    {line}\n" for line in run)
    leaky = _with_member(bundle.path, tmp_path / "leaky.zip", wheel_edits={"labkit/plots.py": planted.encode()})
    problems = audit_bundle(leaky, source_nb=source_nb, oracle=ORACLE)
    assert problems and all(f"{bundle.wheel}!labkit/plots.py" in p for p in problems), problems


def test_audit_finds_an_oracle_body_a_test_file_and_a_marker(bundle, tmp_path: Path) -> None:
    bodies = oracle_bodies(ORACLE)
    assert "fine_grained_prune" in bodies and "channel_prune" in bodies
    source = ORACLE.read_text()
    start = source.index("def fine_grained_prune")
    function = source[start:source.index("\ndef ", start + 1)]
    leaky = _with_member(
        bundle.path, tmp_path / "leaky.zip",
        wheel_edits={"labkit/extra.py": f"import torch\n\n\n{function}".encode(),
                     "tests/oracle.py": b"# the test suite's oracle\n"},
        edits={f"{ASSIGNMENT}/STUDENTS.md": b"# notes\n### BEGIN SOLUTION\n"})
    problems = audit_bundle(leaky, source_nb=_source_nb(), oracle=ORACLE)
    assert any("labkit/extra.py: the body of tests/oracle.py's fine_grained_prune()" in p for p in problems), problems
    assert any("holds tests/oracle.py" in p for p in problems)
    assert any("STUDENTS.md: region marker" in p for p in problems)


def test_a_leaky_bundle_is_not_left_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make_bundle removes a zip whose audit failed (here: a planted oracle)."""
    import labkit_course.bundle as bundle_mod

    oracle = tmp_path / "oracle.py"
    oracle.write_text("def leaked():\n    return 'sentinel-0123456789'\n")
    real_texts = bundle_mod.file_texts
    monkeypatch.setattr(bundle_mod, "file_texts", lambda data, name: real_texts(data, name) + (
        [(name, "return 'sentinel-0123456789'")] if name.endswith("STUDENTS.md") else []))
    report = make_bundle(tmp_path / "b.zip", oracle=oracle)
    assert not report.ok and report.path is None and not (tmp_path / "b.zip").exists()
    assert "the body of tests/oracle.py's leaked()" in report.summary()


# --- a student's run: the bundle in a fresh venv outside the repository --------------------------

def _bare_venv(where: Path) -> Path:
    """A venv outside the repository WITHOUT labkit; the heavy dependencies (torch, jupyter ...)
    come from the test venv's site-packages through a .pth line (which does not activate that
    folder's own .pth files, so the checkout's editable labkit stays invisible)."""
    import torch

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_labkit_test_deps.pth").write_text(f"{Path(torch.__file__).resolve().parents[1]}\n")
    return python


@pytest.mark.slow
def test_bundle_runs_to_the_end_in_a_fresh_venv_without_training(bundle, tmp_path: Path) -> None:
    """Unzip the bundle outside the repository, paste the reference solutions into the release
    notebook and run it in a venv without labkit: its first cell installs the wheel next to it,
    setup() generates the dataset (checksums match) and uses the shipped model, and every cell
    runs; nothing is trained."""
    student = tmp_path / "student"
    with zipfile.ZipFile(bundle.path) as z:
        z.extractall(student)
    folder = student / ASSIGNMENT
    notebook = folder / f"{ASSIGNMENT}.ipynb"
    nb = filled_in(_source_nb(), nbformat.read(notebook, as_version=4))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import sys, labkit\nprint('LABKIT_FROM', labkit.__file__)\nprint('PYTHON', sys.executable)"))
    nbformat.write(nb, notebook)
    python = _bare_venv(tmp_path / "venv")
    assert subprocess.run([str(python), "-c", "import labkit"], cwd=folder, capture_output=True).returncode != 0
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NBGRADER_EXECUTION", "LABKIT_PROFILE")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(python.parent.parent),
               LABKIT_DATA_DIR=str(data), LABKIT_PROFILE="tiny", MPLBACKEND="agg", PIP_NO_INDEX="1")
    proc = subprocess.run(
        [str(python), "-m", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=900", "--output", "executed.ipynb", notebook.name],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:]
    done = nbformat.read(folder / "executed.ipynb", as_version=4)
    errors = [o for c in done.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[:1]
    text = "\n".join(o.get("text", "") for c in done.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.output_type == "stream")
    venv_site = str(tmp_path / "venv")
    assert f"LABKIT_FROM {venv_site}" in text and f"PYTHON {python}" in text  # the wheel's labkit
    assert "generated the tiny dataset" in text and "DIFFER" not in text
    assert "copied the tiny model shipped with labkit" in text and "train tiny VGG" not in text
    assert (data / "tiny" / "vgg_tiny.pth").read_bytes() == SHIPPED_TINY_CHECKPOINT.read_bytes()
    shutil.rmtree(data, ignore_errors=True)
