"""Retrain the tiny model and say whether it reproduces the one shipped with labkit.

``labkit train --profile tiny`` calls :func:`retrain_tiny`. The shipped checkpoint
(``labkit/assets/vgg_tiny.pth``) is what every session, grader and calibration uses; a
retrained one is written next to the dataset (not over the profile's checkpoint) and compared
with it: on the machine that made the shipped file it is the same byte for byte, on another CPU
or torch build it differs slightly (float reductions), which is why one model is shipped.
To replace the shipped model, retrain with ``output=`` the assets path and commit the file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from labkit.models import save_checkpoint
from labkit.prepare import SHIPPED_TINY_CHECKPOINT, prepare
from labkit.profiles import Profile, resolve_profile
from labkit_course.reference import RECIPES, train_reference

__all__ = ["Comparison", "compare_checkpoints", "retrain_tiny", "retrained_path"]


@dataclass(frozen=True)
class Comparison:
    """How a checkpoint compares with another (e.g. a retrained tiny model with the shipped one).

    Attributes:
        same_bytes: the two files are byte-identical.
        same_tensors: every tensor of both state dicts is equal (same names, shapes, values).
        max_abs_diff: the largest absolute weight difference (0.0 when equal; inf when the
            names or shapes differ).
        accuracy, other_accuracy: the test accuracies (fractions) stored in the two files
            (None if absent).
    """

    same_bytes: bool
    same_tensors: bool
    max_abs_diff: float
    accuracy: float | None
    other_accuracy: float | None

    def describe(self, name: str = "the retrained model", other: str = "the shipped one") -> str:
        """One line for users."""
        acc = ""
        if self.accuracy is not None and self.other_accuracy is not None:
            acc = f" (test accuracy {self.accuracy:.2%} vs {self.other_accuracy:.2%})"
        if self.same_bytes:
            return f"{name} reproduces {other} byte for byte{acc}"
        if self.same_tensors:
            return f"{name} has the same weights as {other} (the files differ only in metadata){acc}"
        return (f"{name} differs from {other}: largest weight difference "
                f"{self.max_abs_diff:.3g}{acc} -- expected on another CPU or torch build; "
                "sessions and graders keep using the shipped model")


def compare_checkpoints(path: str | Path, other: str | Path = SHIPPED_TINY_CHECKPOINT) -> Comparison:
    """Compare two checkpoints (``{'state_dict': ..., 'accuracy': ...}``) byte- and tensor-wise."""
    a, b = Path(path), Path(other)
    same_bytes = a.read_bytes() == b.read_bytes()
    ca = torch.load(a, map_location="cpu", weights_only=True)
    cb = torch.load(b, map_location="cpu", weights_only=True)
    sa, sb = ca["state_dict"], cb["state_dict"]
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        diff = float("inf")
    else:
        diff = max((float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if sa[k].numel()),
                   default=0.0)
    same_tensors = diff == 0.0 and all(torch.equal(sa[k], sb[k]) for k in sa)
    return Comparison(same_bytes, same_tensors, diff, ca.get("accuracy"), cb.get("accuracy"))


def retrained_path(profile: Profile) -> Path:
    """Where :func:`retrain_tiny` writes by default: next to the profile's checkpoint."""
    return profile.checkpoint.with_name(profile.checkpoint.stem + ".retrained.pth")


def retrain_tiny(
    output: str | Path | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> tuple[Path, Comparison | None]:
    """Train the tiny reference VGG from scratch on the (checksum-verified) tiny dataset, save
    it to ``output`` and compare it with the shipped checkpoint.

    Args:
        output: where to save (default :func:`retrained_path`, never the profile's checkpoint,
            which :func:`labkit.prepare.prepare` keeps equal to the shipped model).
        epochs: override the recipe's 30 epochs (the comparison then says "differs").
        seed: the training seed (the shipped model used 0).
        verbose: progress bar and summary lines.

    Returns:
        ``(path, comparison)``; comparison is None when labkit has no shipped model.
    """
    profile = resolve_profile("tiny")
    prepare(profile, model=False, verbose=verbose)
    epochs = RECIPES["tiny"].epochs if epochs is None else epochs
    model, accuracy = train_reference(profile, epochs=epochs, seed=seed, verbose=verbose)
    path = Path(output) if output is not None else retrained_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    # torch.save names the zip archive after the file: save under the shipped file's name (in a
    # private folder next to ``path``), then rename, so that equal training gives equal bytes.
    with tempfile.TemporaryDirectory(prefix=".retrain-", dir=path.parent) as tmp:
        saved = save_checkpoint(model, Path(tmp) / SHIPPED_TINY_CHECKPOINT.name, accuracy=accuracy,
                                seed=seed, epochs=epochs, profile="tiny")
        os.replace(saved, path)
    if not SHIPPED_TINY_CHECKPOINT.is_file():  # a source tree without the shipped model
        if verbose:
            print(f"saved {path} (test accuracy {accuracy:.2%}); no shipped model to compare with "
                  f"({SHIPPED_TINY_CHECKPOINT} is missing)")
        return path, None
    comparison = compare_checkpoints(path)
    if verbose:
        print(f"saved {path}; {comparison.describe()}")
    return path, comparison
