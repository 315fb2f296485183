"""The lab's VGG for CIFAR-10, with a width multiplier, and checkpoint loading/saving.

Shapes: N = batch, C = channels, H/W = height/width (32x32 input).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

__all__ = ["VGG", "CheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable or does not fit the model."""


class VGG(nn.Module):
    """The lab's 8-conv VGG: conv3x3 (no bias) -> BN -> ReLU, max-pool at 'M', mean-pool, Linear.

    Module names are those of the lab (``backbone.conv0..7``, ``bn0..7``, ``relu0..7``,
    ``pool0..3``, ``classifier``) for every width, so sparsity dicts keyed by parameter name
    work on the full and the tiny model alike.

    Args:
        width: multiplier applied to every conv width of ``ARCH`` (1.0 = the lab's model).
        widths: explicit conv widths (8 ints), e.g. of a channel-pruned model; overrides ``width``.
        num_classes: classifier outputs.

    Example:
        >>> model = VGG()              # 9,228,362 parameters
        >>> logits = model(torch.randn(2, 3, 32, 32))   # (2, 10)
    """

    ARCH = [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]

    def __init__(
        self, width: float = 1.0, *, widths: Sequence[int] | None = None, num_classes: int = 10
    ) -> None:
        super().__init__()
        n_conv = sum(1 for x in self.ARCH if x != "M")
        if widths is None:
            if not width > 0:
                raise ValueError(f"width={width} must be > 0 (1.0 is the lab's VGG)")
            widths = [max(1, round(c * width)) for c in self.ARCH if c != "M"]
        widths = [int(w) for w in widths]
        if len(widths) != n_conv or min(widths) < 1:
            raise ValueError(f"widths={widths} must be {n_conv} positive ints, one per conv")
        self.widths = widths

        layers: list[tuple[str, nn.Module]] = []
        counts = {"conv": 0, "bn": 0, "relu": 0, "pool": 0}

        def add(kind: str, module: nn.Module) -> None:
            layers.append((f"{kind}{counts[kind]}", module))
            counts[kind] += 1

        in_channels, it = 3, iter(widths)
        for x in self.ARCH:
            if x == "M":
                add("pool", nn.MaxPool2d(2))
                continue
            out_channels = next(it)
            add("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
            add("bn", nn.BatchNorm2d(out_channels))
            add("relu", nn.ReLU(True))
            in_channels = out_channels
        self.backbone = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 3, 32, 32) in [0, 1] to logits (N, num_classes)."""
        x = self.backbone(x)  # (N, C, 2, 2)
        x = x.mean([2, 3])  # global average pooling -> (N, C)
        return self.classifier(x)


def _widths_from_state_dict(state_dict: dict[str, torch.Tensor]) -> list[int]:
    widths = []
    i = 0
    while f"backbone.conv{i}.weight" in state_dict:
        widths.append(int(state_dict[f"backbone.conv{i}.weight"].shape[0]))
        i += 1
    return widths


def load_checkpoint(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Load a checkpoint in the lab's format (``{'state_dict': ...}``) or a bare state dict.

    Loads with ``weights_only=True`` (torch's safe default). When ``model`` is None, a
    :class:`VGG` is built with the conv widths found in the file (so channel-pruned
    checkpoints load too).

    Returns:
        The model, on CPU unless ``model`` was given (then its device is kept).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is corrupt or its tensors do not fit the model; the message
            names the file and each mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(e).__name__}: {str(e).splitlines()[0]}); "
            "it may be truncated or corrupt: delete it and download or train it again"
        ) from e
    state_dict = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise CheckpointError(
            f"checkpoint {path} holds no state dict (expected {{'state_dict': {{name: tensor}}}})"
        )
    if model is None:
        widths = _widths_from_state_dict(state_dict)
        if len(widths) != 8:
            raise CheckpointError(
                f"checkpoint {path} is not a lab VGG: found {len(widths)} of the 8 "
                "'backbone.convI.weight' tensors"
            )
        model = VGG(widths=widths)
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state_dict]
    problems += [f"unexpected {k}" for k in state_dict if k not in own]
    problems += [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; ... ({len(problems)} in all)" if len(problems) > 6 else "")
        raise CheckpointError(f"checkpoint {path} does not fit {type(model).__name__}: {shown}")
    model.load_state_dict(state_dict)
    return model


def save_checkpoint(model: nn.Module, path: str | Path, **extra: float | int | str) -> Path:
    """Save ``{'state_dict': ..., **extra}`` atomically (write to a temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, **extra}, tmp)
    tmp.replace(path)
    return path
