"""The two profiles: ``full`` (the lab as published) and ``tiny`` (offline CPU default).

Choice, first match wins: under nbgrader (``NBGRADER_EXECUTION`` set) always ``tiny``; the
``profile`` argument; ``LABKIT_PROFILE``; ``full`` when CIFAR-10, a full checkpoint (the
published one, else a self-trained one) and a GPU are all present; otherwise ``tiny``.
:func:`labkit.fetch.choose_profile` (the notebook's ``lk.setup()``) goes one step further, as the original
lab does on Colab: on a GPU with the files missing it downloads them, and falls back to
``tiny`` (saying why) when it cannot.

The full profile's checkpoints are told apart by name: the published one is
``vgg.cifar.pretrained.pth`` (verified by sha256, see :mod:`labkit.fetch`); one trained here by
``labkit train --profile full`` is ``vgg.cifar.selftrained.pth`` and is reported as such.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .runtime import data_dir, is_autograding

__all__ = ["Profile", "resolve_profile", "PROFILES"]

PROFILES = ("full", "tiny")
TINY_WIDTH = 0.125  # conv widths 8/16/32/32/64/64/64/64
# The full profile is the lab as published: its VGG (width 1.0, labkit.models.VGG) and the
# published checkpoint, all of whose facts live here.
FULL_VGG_PARAMETERS = 9_228_362  # of the lab's VGG (width 1.0)
PUBLISHED_NAME = "vgg.cifar.pretrained.pth"  # the lab's published checkpoint (labkit fetch)
CHECKPOINT_URL = "https://hanlab18.mit.edu/files/course/labs/vgg.cifar.pretrained.pth"
# the course's own copy (the course moved the file once already, when its old host died)
CHECKPOINT_MIRROR_URL = "https://file.hanlab.ai/courses/6s965/labs/assets/vgg.cifar.pretrained.pth"
CHECKPOINT_URLS = (CHECKPOINT_URL, CHECKPOINT_MIRROR_URL)  # tried in this order
SELF_TRAINED_NAME = "vgg.cifar.selftrained.pth"  # labkit train --profile full
# The published checkpoint, pinned. From a public third-party Git LFS pointer to a copy of
# vgg.cifar.pretrained.pth until a machine with internet confirms them (BENCHMARKS.md).
PUBLISHED_SHA256 = "6b4aff21d828395aded52a8f2d3144ceda75d645eb9f57ea38e025ca28ded21a"
PUBLISHED_SIZE = 36_951_439  # bytes
SHA256_ENV = "LABKIT_CHECKPOINT_SHA256"  # a course's own pin (any size)


def pinned_sha256s() -> set[str]:
    """The sha256 digests of checkpoints verified as published: the lab's, and a course's own
    pin (``LABKIT_CHECKPOINT_SHA256``) when set."""
    own = os.environ.get(SHA256_ENV, "").strip().lower()
    return {PUBLISHED_SHA256} | ({own} if own else set())


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
        published_checkpoint: full profile: where the published checkpoint goes (``labkit
            fetch``); None for tiny.
        trained_checkpoint: where ``labkit train`` saves this profile's model (full: its own
            name, never the published one's); None = ``checkpoint``.
    """

    name: str
    width: float
    data_root: Path
    checkpoint: Path
    reason: str = ""
    published_checkpoint: Path | None = None
    trained_checkpoint: Path | None = None

    @property
    def checkpoint_kind(self) -> str:
        """Full profile: "published" or "self-trained" (by the file's name); tiny: "tiny"."""
        if self.name != "full":
            return "tiny"
        return "self-trained" if self.checkpoint == self.trained_checkpoint else "published"

    def describe(self) -> str:
        """One line for users: which profile, why, and where its files are."""
        kind = {"published": " (the published one)",
                "self-trained": " (self-trained by `labkit train --profile full`, not the published one)",
                }.get(self.checkpoint_kind, "")
        if self.name == "full" and not self.checkpoint.is_file():
            kind = " (missing: `labkit fetch` downloads the published one)"
        return (
            f"labkit profile '{self.name}' ({self.reason}); data: {self.data_root}, "
            f"checkpoint: {self.checkpoint}{kind}"
        )


def _full(reason: str) -> Profile:
    """The full profile; its checkpoint is the published one, else a self-trained one if present."""
    root = data_dir()
    published, trained = root / PUBLISHED_NAME, root / SELF_TRAINED_NAME
    checkpoint = trained if trained.is_file() and not published.is_file() else published
    return Profile("full", 1.0, root / "cifar10", checkpoint, reason, published, trained)


def _warn_cpu(profile: Profile) -> Profile:
    """Warn when the full profile runs without a GPU (slow; the scan's memory is bounded)."""
    if profile.name == "full" and not torch.cuda.is_available():
        warnings.warn(
            "the full profile on a CPU: the lab's VGG on 10,000 test images is slow here (the "
            "sensitivity scan takes tens of minutes, training hours); the scan keeps to a memory "
            "budget. Use a GPU, or the tiny profile (LABKIT_PROFILE=tiny), made for CPUs.",
            RuntimeWarning, stacklevel=3)
        return Profile(**{**profile.__dict__, "reason": profile.reason + "; no GPU: slow on a CPU"})
    return profile


def _tiny(reason: str) -> Profile:
    root = data_dir() / "tiny"
    return Profile("tiny", TINY_WIDTH, root, root / "vgg_tiny.pth", reason)


def resolve_profile(profile: str | None = None, *, warn: bool = True) -> Profile:
    """Return the profile to use (see the module docstring for the order of choice).

    Args:
        profile: "full", "tiny", or None (``LABKIT_PROFILE``, else automatic).
        warn: warn (RuntimeWarning) when the full profile is chosen on a machine without a GPU;
            False for tools that only handle its files (``labkit fetch``).

    Raises:
        ValueError: an unknown profile name (argument or ``LABKIT_PROFILE``).
    """
    if is_autograding():
        return _tiny("grading mode: NBGRADER_EXECUTION is set")
    for name, source in ((profile, "argument"), (os.environ.get("LABKIT_PROFILE"), "LABKIT_PROFILE")):
        if name:
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r} from {source}: use one of {PROFILES}")
            chosen = (_full if name == "full" else _tiny)(f"chosen by {source}")
            return _warn_cpu(chosen) if warn else chosen
    full = _full("")
    have_data = (full.data_root / "cifar-10-batches-py").is_dir()
    have_ckpt = full.checkpoint.is_file()
    if have_data and have_ckpt and torch.cuda.is_available():
        return _full(f"CIFAR-10, the {full.checkpoint_kind} checkpoint and a GPU are present")
    missing = [w for w, ok in (("CIFAR-10", have_data), ("the checkpoint", have_ckpt),
                               ("a GPU", torch.cuda.is_available())) if not ok]
    return _tiny("default: " + ", ".join(missing) + " missing")

