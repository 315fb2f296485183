"""labkit train --profile tiny: retrain, then say whether the shipped model was reproduced."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import labkit as lk
import labkit_course.reference as reference
import labkit.synthetic as synthetic
from labkit.prepare import SHIPPED_TINY_CHECKPOINT
from labkit_course.retrain import compare_checkpoints, retrain_tiny, retrained_path


def test_compare_checkpoints_tells_bytes_weights_and_differences(tmp_path: Path) -> None:
    same = compare_checkpoints(SHIPPED_TINY_CHECKPOINT, SHIPPED_TINY_CHECKPOINT)
    assert same.same_bytes and same.same_tensors and same.max_abs_diff == 0.0
    assert "byte for byte" in same.describe()
    info = torch.load(SHIPPED_TINY_CHECKPOINT, map_location="cpu", weights_only=True)
    info["accuracy"] = 0.5  # other metadata, same weights
    torch.save(info, tmp_path / "meta.pth")
    meta = compare_checkpoints(tmp_path / "meta.pth")
    assert not meta.same_bytes and meta.same_tensors and "only in metadata" in meta.describe()
    name = next(iter(info["state_dict"]))
    info["state_dict"][name] = info["state_dict"][name] + 0.25
    torch.save(info, tmp_path / "moved.pth")
    moved = compare_checkpoints(tmp_path / "moved.pth")
    assert not moved.same_tensors and moved.max_abs_diff == pytest.approx(0.25)
    assert "differs from the shipped one" in moved.describe()


@pytest.mark.slow
def test_retraining_twice_gives_the_same_bytes(data_env: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    """Same machine, same seed: byte-identical files (the archive is named like the shipped
    file whatever the output name); the profile's own checkpoint is never overwritten."""
    monkeypatch.setattr(synthetic, "N_TRAIN", 250)
    monkeypatch.setattr(synthetic, "N_TEST", 50)
    monkeypatch.setitem(reference.RECIPES, "tiny", reference.Recipe(epochs=1, batch_size=128, lr=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a small dataset: checksums differ
        a, first = retrain_tiny(verbose=True)
        b, second = retrain_tiny(data_env / "again.pth", verbose=False)
    assert a == retrained_path(lk.resolve_profile("tiny")) and b == data_env / "again.pth"
    assert not lk.resolve_profile("tiny").checkpoint.exists()
    assert compare_checkpoints(a, b).same_bytes
    assert not first.same_tensors and "differs from the shipped one" in capsys.readouterr().out
