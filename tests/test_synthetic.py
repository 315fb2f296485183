"""The tiny dataset generator: genuine CIFAR-10 files, deterministic, written atomically."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10

import labkit as lk
import labkit.prepare as prepare
import labkit.synthetic as synthetic


def _raw(folder: Path, name: str) -> dict:
    with open(folder / name, "rb") as f:
        return pickle.load(f, encoding="latin1")


def test_files_have_the_genuine_cifar10_layout(small_cifar: Path) -> None:
    folder = small_cifar / "cifar-10-batches-py"
    names = {p.name for p in folder.iterdir() if not p.name.startswith("labkit-cache")}
    assert names == {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch", "batches.meta"}
    batch = _raw(folder, "data_batch_1")
    assert set(batch) == {"batch_label", "labels", "data", "filenames"}
    assert batch["data"].dtype == np.uint8 and batch["data"].shape == (40, 3072)
    assert all(isinstance(x, int) for x in batch["labels"]) and len(batch["filenames"]) == 40
    meta = _raw(folder, "batches.meta")
    assert meta["label_names"] == list(lk.CIFAR10_CLASSES)
    assert meta["label_names"][:3] == ["airplane", "automobile", "bird"]
    assert meta["num_cases_per_batch"] == 40 and meta["num_vis"] == 3072


@pytest.mark.parametrize("train", [True, False])
def test_round_trip_through_torchvision_is_exact(small_cifar: Path, train: bool) -> None:
    ds = lk.LocalCIFAR10(small_cifar, train=train, cache=False)
    folder = small_cifar / "cifar-10-batches-py"
    files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    raw = [_raw(folder, f) for f in files]
    pixels = np.concatenate([b["data"] for b in raw]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert np.array_equal(ds.data, pixels)  # torchvision's (N, H, W, C) view of our planes
    assert ds.targets == [y for b in raw for y in b["labels"]]
    assert ds.classes == list(lk.CIFAR10_CLASSES)
    assert len(ds) == (200 if train else 100)


def test_plain_torchvision_refuses_the_files_but_local_reads_them(small_cifar: Path) -> None:
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        CIFAR10(small_cifar, train=False)
    image, label = lk.LocalCIFAR10(small_cifar, train=False)[0]
    assert image.size == (32, 32) and 0 <= label < 10


def test_labels_are_balanced(small_cifar: Path) -> None:
    targets = lk.LocalCIFAR10(small_cifar, train=True).targets
    assert np.bincount(targets, minlength=10).tolist() == [20] * 10


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    a = synthetic.write_tiny_cifar(tmp_path / "a", n_train=10, n_test=10, seed=3)
    b = synthetic.write_tiny_cifar(tmp_path / "b", n_train=10, n_test=10, seed=3)
    c = synthetic.write_tiny_cifar(tmp_path / "c", n_train=10, n_test=10, seed=4)
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert not np.array_equal(_raw(a, "test_batch")["data"], _raw(c, "test_batch")["data"])


def test_images_are_not_blank_or_saturated(small_cifar: Path) -> None:
    x = torch.from_numpy(lk.LocalCIFAR10(small_cifar, train=False).data).float()
    per_image_std = x.reshape(len(x), -1).std(dim=1)
    assert per_image_std.min() > 5  # every image has structure (0-255 scale)
    assert 40 < x.mean() < 215


def test_interrupted_write_leaves_no_partial_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_dump, calls = synthetic._dump, []

    def failing_dump(obj: object, path: Path) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real_dump(obj, path)

    monkeypatch.setattr(synthetic, "_dump", failing_dump)
    with pytest.raises(OSError, match="simulated"):
        synthetic.write_tiny_cifar(tmp_path, n_train=10, n_test=10)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temp folder remains


def test_existing_dataset_is_kept_unless_overwrite(tmp_path: Path) -> None:
    folder = synthetic.write_tiny_cifar(tmp_path, n_train=10, n_test=10, seed=0)
    before = (folder / "test_batch").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        synthetic.write_tiny_cifar(tmp_path, n_train=10, n_test=10, seed=1)
    assert (folder / "test_batch").read_bytes() == before
    synthetic.write_tiny_cifar(tmp_path, n_train=10, n_test=20, seed=1, overwrite=True)
    assert len(lk.LocalCIFAR10(tmp_path, train=False, cache=False)) == 20
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]


@pytest.mark.parametrize("kwargs", [{"n_train": 12}, {"n_train": 0}, {"n_test": 0}])
def test_bad_sizes_are_rejected(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        synthetic.write_tiny_cifar(tmp_path, **kwargs)


# --- one dataset everywhere: checksums and CPU independence -------------------------------------

def _sha256_of(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if not p.name.startswith("labkit-cache")}


def test_the_default_dataset_matches_the_shipped_checksums(tmp_path: Path) -> None:
    """Every file of a fresh generation has the sha256 committed in labkit/assets (what the
    shipped tiny model was trained on); prepare() checks the same after generating."""
    expected = prepare.tiny_checksums()
    assert set(expected) == {*synthetic.TRAIN_FILES, synthetic.TEST_FILE, synthetic.META_FILE}
    folder = synthetic.write_tiny_cifar(tmp_path)
    assert _sha256_of(folder) == expected
    assert prepare.verify_tiny_dataset(folder) == []
    (folder / "test_batch").write_bytes(b"not the data")
    assert prepare.verify_tiny_dataset(folder) == ["test_batch"]


_CHILD = """
import sys
from numpy._core._multiarray_umath import __cpu_features__ as features
import labkit.synthetic as synthetic
off = sys.argv[2].split()
still_on = [name for name in off if features[name]]
assert not still_on, f"NPY_DISABLE_CPU_FEATURES did not disable {still_on}"
synthetic.write_tiny_cifar(sys.argv[1], n_train=100, n_test=60, seed=5)
"""


def test_same_bytes_without_the_cpus_simd_code_paths(tmp_path: Path) -> None:
    """numpy picks SIMD kernels (AVX2/FMA3, AVX-512) by CPU at run time, and float functions
    such as sin differ in their last bits between them. Generate once with every dispatched
    SIMD target this CPU has and once with all of them switched off (numpy's baseline code, as
    on an older CPU): the files must be identical."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    found = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    if not found:
        pytest.skip("this CPU runs none of numpy's dispatched SIMD targets: nothing to switch off")
    here = synthetic.write_tiny_cifar(tmp_path / "here", n_train=100, n_test=60, seed=5)
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(found)}
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "baseline"), " ".join(found)],
                   env=env, check=True, timeout=300)
    baseline = tmp_path / "baseline" / synthetic.FOLDER
    assert _sha256_of(baseline) == _sha256_of(here)
