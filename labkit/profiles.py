"""The two profiles: ``full`` (the lab as published) and ``tiny`` (offline CPU default).

Choice, first match wins: under nbgrader (``NBGRADER_EXECUTION`` set) always ``tiny``; the
``profile`` argument; ``LABKIT_PROFILE``; ``full`` when CIFAR-10, the published checkpoint and
a GPU are all present; otherwise ``tiny``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .runtime import data_dir, is_autograding

__all__ = ["Profile", "resolve_profile", "PROFILES"]

PROFILES = ("full", "tiny")
TINY_WIDTH = 0.125  # conv widths 8/16/32/32/64/64/64/64


@dataclass(frozen=True)
class Profile:
    """Where a profile's data and checkpoint live and how big its model is.

    Attributes:
        name: "full" or "tiny".
        width: VGG width multiplier (1.0 for the lab's model).
        data_root: the folder passed to ``torchvision.datasets.CIFAR10(root=...)``; it holds
            ``cifar-10-batches-py/``.
        checkpoint: the dense reference checkpoint (``{'state_dict': ...}``).
        reason: why this profile was chosen (printed when a session starts).
    """

    name: str
    width: float
    data_root: Path
    checkpoint: Path
    reason: str = ""

    def describe(self) -> str:
        """One line for users: which profile, why, and where its files are."""
        return (
            f"labkit profile '{self.name}' ({self.reason}); data: {self.data_root}, "
            f"checkpoint: {self.checkpoint}"
        )


def _full(reason: str) -> Profile:
    root = data_dir()
    return Profile("full", 1.0, root / "cifar10", root / "vgg.cifar.pretrained.pth", reason)


def _tiny(reason: str) -> Profile:
    root = data_dir() / "tiny"
    return Profile("tiny", TINY_WIDTH, root, root / "vgg_tiny.pth", reason)


def resolve_profile(profile: str | None = None) -> Profile:
    """Return the profile to use (see the module docstring for the order of choice).

    Raises:
        ValueError: an unknown profile name (argument or ``LABKIT_PROFILE``).
    """
    if is_autograding():
        return _tiny("grading mode: NBGRADER_EXECUTION is set")
    for name, source in ((profile, "argument"), (os.environ.get("LABKIT_PROFILE"), "LABKIT_PROFILE")):
        if name:
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r} from {source}: use one of {PROFILES}")
            return (_full if name == "full" else _tiny)(f"chosen by {source}")
    full = _full("")
    have_data = (full.data_root / "cifar-10-batches-py").is_dir()
    have_ckpt = full.checkpoint.is_file()
    if have_data and have_ckpt and torch.cuda.is_available():
        return _full("CIFAR-10, the published checkpoint and a GPU are present")
    missing = [w for w, ok in (("CIFAR-10", have_data), ("the checkpoint", have_ckpt),
                               ("a GPU", torch.cuda.is_available())) if not ok]
    return _tiny("default: " + ", ".join(missing) + " missing")
