"""The notebook's first cell: ``lab = lk.setup()`` gets profile, device, data and dense model.

It replaces the lab's set-up cells (seeds, checkpoint download, model, data loaders,
``recover_model``) with one call that works offline: :func:`labkit.prepare.prepare` makes the
profile ready (tiny: the dataset is generated on first use in a few seconds and the tiny model
shipped with labkit is used, nothing is trained; full: fetched by ``labkit fetch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from .budget import data_subsets
from .data import make_loaders
from .fetch import choose_profile
from .models import load_checkpoint
from .prepare import prepare
from .profiles import Profile
from .runtime import get_device, is_autograding, seed_everything

__all__ = ["Lab", "setup"]


@dataclass
class Lab:
    """Everything the notebook needs after set-up.

    Attributes:
        profile: the chosen :class:`Profile`.
        device: where the model and (fast loaders) the data live.
        model: the dense VGG, loaded from the profile's checkpoint, on ``device``.
        dataloader: ``{"train": ..., "test": ...}`` (the lab's variable name); each yields
            (images (B, 3, 32, 32) float in [0, 1], labels (B,)).
        dense_state_dict: a private copy of the dense weights (on ``device``).
        grading: True when the loaders are the small grading-mode subsets.
    """

    profile: Profile
    device: torch.device
    model: nn.Module = field(repr=False)
    dataloader: dict[str, Iterable[tuple[torch.Tensor, torch.Tensor]]]
    dense_state_dict: dict[str, torch.Tensor] = field(repr=False)
    grading: bool = False

    def recover_model(self) -> nn.Module:
        """Restore the dense weights into ``self.model`` in place (the lab's ``recover_model``)."""
        self.model.load_state_dict(self.dense_state_dict)
        return self.model


def setup(
    profile: Profile | str | None = None,
    *,
    seed: int = 0,
    fast: bool = True,
    verbose: bool = True,
) -> Lab:
    """Prepare a lab session: profile, seeds, device, data, dense model and loaders.

    Args:
        profile: "tiny", "full", a :class:`Profile`, or None to choose automatically (see
            :func:`resolve_profile`; grading mode always uses tiny).
        seed: passed to :func:`seed_everything` and to the loaders.
        fast: device-resident loaders (:class:`DeviceLoader`, same augmentation); False gives
            the lab's torch ``DataLoader``s.
        verbose: print what was chosen and done.

    Returns:
        A :class:`Lab`.

    Raises:
        DataNotFoundError, FileNotFoundError: full profile without its files; the message
            says to run ``labkit fetch`` / ``labkit train --profile full``.

    Example:
        >>> lab = lk.setup()
        >>> model, dataloader = lab.model, lab.dataloader
    """
    # automatic choice on a GPU: fetch the full profile's files as the original lab does (or say why not)
    profile = profile if isinstance(profile, Profile) else choose_profile(profile, verbose=verbose)
    if verbose:
        print(profile.describe())
    seed_everything(seed)
    device = get_device()
    ready = prepare(profile, verbose=verbose)  # tiny: data generated if missing, the shipped model
    model = load_checkpoint(ready.checkpoint).to(device).eval()
    dense = {k: v.detach().clone() for k, v in model.state_dict().items()}
    grading = is_autograding()
    train_subset, test_subset = data_subsets()  # all, or the grading mode's small subsets
    loaders = make_loaders(profile, batch_size=512, seed=seed, fast=fast, device=device,
                           train_subset=train_subset, test_subset=test_subset)
    if verbose:
        sizes = {k: getattr(v, "num_samples", None) or len(getattr(v, "dataset", ()))
                 for k, v in loaders.items()}
        mode = " (grading mode: small subsets to keep autograding fast)" if grading else ""
        print(f"device: {device}; data: {sizes['train']} train / {sizes['test']} test images{mode}")
    seed_everything(seed)  # same random state whether or not the dataset had to be generated
    return Lab(profile, device, model, loaders, dense, grading)
