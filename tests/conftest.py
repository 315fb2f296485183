"""Shared fixtures. Tests never touch the real ``data/`` except through ``tiny_checkpoint``."""

from __future__ import annotations

from pathlib import Path

import pytest

import labkit as lk


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
    lk.write_tiny_cifar(root, n_train=200, n_test=100, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint() -> lk.Profile:
    """The real tiny profile with its dataset and reference checkpoint, built only if missing.

    Lives under the real data folder (``data/tiny``) so that it is built once and reused by
    later runs and other test files; building it takes 1-3 minutes on a 2-core CPU.
    """
    profile = lk.resolve_profile("tiny")
    lk.ensure_reference(profile, verbose=False)  # also writes the dataset when missing
    return profile


@pytest.fixture
def one_thread():
    """Run a test on one torch thread (tiny models gain nothing from threads); restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
