"""prepare(): the one place that makes a profile ready; tiny never trains, ships one model."""

from __future__ import annotations

import ast
import pickle
import warnings
from pathlib import Path

import pytest

import labkit as lk
from labkit.data import DataNotFoundError
import labkit_course
import labkit.prepare as prep
import labkit_course.reference as reference
import labkit.synthetic as synthetic

LABKIT = Path(lk.__file__).resolve().parent
COURSE = Path(labkit_course.__file__).resolve().parent


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to train a model fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("prepare/setup must not train a model")

    monkeypatch.setattr(reference, "train_reference", refuse)


@pytest.fixture
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small default dataset (checksums then differ from the shipped ones: a warning)."""
    monkeypatch.setattr(synthetic, "N_TRAIN", 50)
    monkeypatch.setattr(synthetic, "N_TEST", 20)


def test_first_call_generates_and_copies_then_nothing(data_env: Path, no_training: None) -> None:
    """Full size: the generated files match the shipped checksums (verified=True), the shipped
    model is copied byte for byte; the second call does nothing and changes no file."""
    ready = prep.prepare("tiny", verbose=True)
    assert ready.data == data_env / "tiny" / synthetic.FOLDER
    assert ready.verified is True and len(ready.done) == 2
    assert ready.checkpoint == lk.resolve_profile("tiny").checkpoint
    assert ready.checkpoint.read_bytes() == prep.SHIPPED_TINY_CHECKPOINT.read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in [*ready.data.iterdir(), ready.checkpoint]}
    again = prep.prepare("tiny")
    assert again.done == () and again.verified is None
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_different_checkpoint_is_replaced_by_the_shipped_one(data_env: Path, small_sizes: None) -> None:
    profile = lk.resolve_profile("tiny")
    with pytest.warns(RuntimeWarning, match="differs from the one labkit's tiny model"):
        prep.prepare(profile)  # 50/20 images: not the shipped dataset, and says so
    profile.checkpoint.write_bytes(b"a model trained elsewhere")
    ready = prep.prepare(profile)
    assert ready.done == (f"copied the tiny model shipped with labkit to {profile.checkpoint} "
                          "(it differed from the shipped one)",)
    assert profile.checkpoint.read_bytes() == prep.SHIPPED_TINY_CHECKPOINT.read_bytes()


def test_a_dataset_from_an_older_labkit_is_regenerated(data_env: Path, small_sizes: None) -> None:
    profile = lk.resolve_profile("tiny")
    folder = synthetic.write_tiny_cifar(profile.data_root, n_train=10, n_test=10)
    meta = pickle.loads((folder / synthetic.META_FILE).read_bytes())
    del meta["labkit_generator"]  # as written by the float generator (version 1)
    (folder / synthetic.META_FILE).write_bytes(pickle.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ready = prep.prepare(profile, model=False)
    assert ready.checkpoint is None and not profile.checkpoint.exists()
    assert "written by an older labkit" in ready.done[0]
    assert len(lk.LocalCIFAR10(profile.data_root, train=False, cache=False)) == 20


def test_share_makes_everything_readable_by_others(data_env: Path, small_sizes: None) -> None:
    profile = lk.resolve_profile("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        prep.prepare(profile)
    profile.checkpoint.chmod(0o600)
    prep.prepare(profile, share=True)
    for path in [profile.data_root, *profile.data_root.rglob("*")]:
        assert path.stat().st_mode & 0o004, path
    # the decoded-tensor caches are there too: a sandboxed kernel (another user) cannot write
    # them, and without them it would decode the batches through torchvision
    caches = sorted(p.name for p in profile.data_root.rglob("labkit-cache-*.pt"))
    assert caches == ["labkit-cache-test.pt", "labkit-cache-train.pt"]


def test_full_profile_without_files_says_what_to_run(data_env: Path) -> None:
    with pytest.raises(DataNotFoundError, match="labkit fetch"):
        prep.prepare("full")
    synthetic.write_tiny_cifar(lk.resolve_profile("full").data_root, n_train=10, n_test=10)
    assert prep.prepare("full", model=False).checkpoint is None
    with pytest.raises(FileNotFoundError, match="labkit train --profile full"):
        prep.prepare("full")


def test_shipped_checkpoint_is_the_tiny_profiles_model() -> None:
    """The file inside labkit loads as the tiny VGG (width 0.125) and says how it was made."""
    info = __import__("torch").load(prep.SHIPPED_TINY_CHECKPOINT, map_location="cpu", weights_only=True)
    assert info["profile"] == "tiny" and info["seed"] == 0 and info["epochs"] == 30
    assert info["accuracy"] > 0.9
    model = lk.load_checkpoint(prep.SHIPPED_TINY_CHECKPOINT)
    assert isinstance(model, lk.VGG)
    assert lk.get_num_parameters(model) == lk.get_num_parameters(lk.VGG(lk.resolve_profile("tiny").width))
    assert prep.SHIPPED_TINY_CHECKPOINT.stat().st_size < 1_000_000


@pytest.mark.slow
def test_shipped_checkpoint_has_its_stored_accuracy_on_the_tiny_test_set(tiny_checkpoint: lk.Profile) -> None:
    import torch

    model = lk.load_checkpoint(tiny_checkpoint.checkpoint).eval()
    stored = torch.load(prep.SHIPPED_TINY_CHECKPOINT, map_location="cpu", weights_only=True)["accuracy"]
    test = lk.make_loaders(tiny_checkpoint, fast=True)["test"]
    assert lk.evaluate(model, test, verbose=False) == pytest.approx(stored, abs=1e-9)


# --- one owner: every caller goes through prepare() ---------------------------------------------

def _calls_in(path: Path, function: str) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
                    for n in ast.walk(node) if isinstance(n, ast.Call)
                    and isinstance(n.func, (ast.Name, ast.Attribute))}
    raise AssertionError(f"{function} not found in {path}")


@pytest.mark.parametrize("path, function, callee", [
    ("session.py", "setup", "prepare"),                  # the notebook
    ("grading/batch.py", "_grade_locked", "prepare"),    # the grader (Options.prepare_data), under the out lock
    ("release.py", "_grade", "grade_batch"),             # the release audit grades through it
    ("commands/demo.py", "run", "prepare"),              # the demo
    ("gradescope/run.py", "setup", "prepare"),           # the Gradescope autograder's set-up
    ("sparsity_targets.py", "check_sparsity_accuracy", "prepare"),
    ("retrain.py", "retrain_tiny", "prepare"),
    ("reference.py", "train_reference", "prepare"),
])
def test_callers_make_the_profile_ready_through_prepare(path: str, function: str, callee: str) -> None:
    found = LABKIT / path if (LABKIT / path).is_file() else COURSE / path
    assert callee in _calls_in(found, function)


def test_no_other_copy_of_profile_readiness_is_left() -> None:
    """Profile readiness has one home: no copy of it elsewhere, and only prepare() writes the tiny dataset."""
    sources = {p: p.read_text() for root in (LABKIT, COURSE) for p in root.rglob("*.py")}
    for name in ("def _ensure_files", "def ensure_data", "def _prepare_data", "def _ensure_tiny"):
        assert not [p for p, s in sources.items() if name in s], name
    writers = {p.relative_to(COURSE if COURSE in p.parents else LABKIT).as_posix()
               for p, s in sources.items() if "write_tiny_cifar(" in s}
    others = {w for w in writers if not w.startswith("bench/")}  # benchmarks: their own scratch sets
    assert others == {"synthetic.py", "prepare.py"}
