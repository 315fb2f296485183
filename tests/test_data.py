"""CIFAR-10 data: missing-data errors, archive extraction, tensor cache, subsets, loaders."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
import torch
from torchvision.datasets import CIFAR10

import labkit as lk
from labkit.data import DataNotFoundError, ensure_cifar10, load_cifar_tensors
from labkit.device_loader import DeviceLoader
import labkit.data as data
import labkit.synthetic as synthetic


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src / "cifar-10-batches-py", dst / "cifar-10-batches-py",
                    ignore=shutil.ignore_patterns("labkit-cache*"))
    return dst


def test_missing_data_offline_says_where_to_put_the_archive(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        ensure_cifar10(tmp_path / "cifar10")
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "cifar10") in message
    assert "LABKIT_PROFILE=tiny" in message and "labkit fetch" in message
    assert isinstance(info.value, FileNotFoundError)


def test_unextracted_archive_is_extracted(small_cifar: Path, tmp_path: Path) -> None:
    staging = _copy(small_cifar, tmp_path / "staging")
    root = tmp_path / "cifar10"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    folder = ensure_cifar10(root)
    assert folder == root / "cifar-10-batches-py"
    assert len(lk.LocalCIFAR10(root, train=False)) == 100


def test_decoded_tensor_cache_is_used_and_invalidated(small_cifar: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy(small_cifar, tmp_path)
    cache = root / "cifar-10-batches-py" / "labkit-cache-test.pt"
    first = lk.LocalCIFAR10(root, train=False)
    assert cache.is_file()
    images, labels = load_cifar_tensors(root, train=False)
    assert images.dtype == torch.uint8 and images.shape == (100, 3, 32, 32)
    assert torch.equal(images.permute(0, 2, 3, 1), torch.from_numpy(first.data))
    assert labels.tolist() == first.targets

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded the batch files although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(CIFAR10, "__init__", no_decoding)
        again = lk.LocalCIFAR10(root, train=False)
    assert (again.data == first.data).all() and again.classes == first.classes

    # new batch files (another seed) -> the stale cache is ignored and rebuilt
    synthetic.write_tiny_cifar(tmp_path / "other", n_train=200, n_test=100, seed=9)
    shutil.copy(tmp_path / "other" / "cifar-10-batches-py" / "test_batch", root / "cifar-10-batches-py")
    fresh = lk.LocalCIFAR10(root, train=False)
    assert not (fresh.data == first.data).all()
    assert (fresh.data == lk.LocalCIFAR10(tmp_path / "other", train=False, cache=False).data).all()


def test_an_unwritable_cache_is_skipped(small_cifar: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandboxed grading kernel may read the data folder but not write it: torch.save then
    raises RuntimeError (not OSError); loading goes on without the cache."""
    root = _copy(small_cifar, tmp_path)

    def cannot_open(obj: object, f: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:747] . open file failed with "
                           "strerror: Permission denied")

    monkeypatch.setattr(torch, "save", cannot_open)
    images, labels = load_cifar_tensors(root, train=False)
    assert images.shape == (100, 3, 32, 32) and len(labels) == 100
    assert not list((root / "cifar-10-batches-py").glob("labkit-cache*"))


def test_subsets_are_seeded(small_cifar: Path) -> None:
    def test_images(seed: int) -> torch.Tensor:
        loaders = lk.make_loaders(small_cifar, test_subset=30, train_subset=50, seed=seed, fast=True)
        assert loaders["train"].num_samples == 50
        return torch.cat([x for x, _ in loaders["test"]])

    a, b, c = test_images(3), test_images(3), test_images(4)
    assert a.shape == (30, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        lk.make_loaders(small_cifar, test_subset=101)


def test_lab_loaders_match_the_fast_loaders(small_cifar: Path) -> None:
    slow = lk.make_loaders(small_cifar, batch_size=64, test_subset=40, seed=1)
    fast = lk.make_loaders(small_cifar, batch_size=64, test_subset=40, seed=1, fast=True)
    assert isinstance(slow["train"], torch.utils.data.DataLoader)
    assert isinstance(fast["train"], DeviceLoader)
    assert slow["train"].batch_size == 64 and slow["train"].num_workers == 0
    assert not slow["train"].pin_memory  # pinned only for CUDA
    assert len(slow["train"]) == len(fast["train"]) == 4  # 200 / 64, rounded up
    # the test split is not augmented: same images, same order, either way
    for (xs, ys), (xf, yf) in zip(slow["test"], fast["test"]):
        assert torch.equal(xs, xf) and torch.equal(ys, yf)
    x, y = next(iter(slow["train"]))
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1  # ToTensor, no normalisation


def test_missing_tiny_data_points_at_prepare(data_env: Path) -> None:
    """make_loaders only reads; generating the tiny dataset is prepare()'s job (test_prepare.py)."""
    with pytest.raises(DataNotFoundError, match=r"prepare\('tiny'\)"):
        lk.make_loaders(lk.resolve_profile("tiny"), fast=True)
    assert not (data_env / "tiny" / "cifar-10-batches-py").exists()


def test_missing_files_are_named(small_cifar: Path, tmp_path: Path) -> None:
    root = _copy(small_cifar, tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert data._missing(root) == ["data_batch_3"]
    with pytest.raises(DataNotFoundError, match="data_batch_3"):
        lk.make_loaders(root)
