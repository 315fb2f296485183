"""The lab's VGG for CIFAR-10, with a width multiplier, and checkpoint loading/saving.

Shapes: N = batch, C = channels, H/W = height/width (32x32 input).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

__all__ = ["VGG", "CheckpointError", "UnsafeCheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """A readable checkpoint holding Python objects that torch's safe loader refuses.

    Attributes:
        refused: the refused globals, e.g. "argparse.Namespace".
    """

    def __init__(self, message: str, refused: str) -> None:
        super().__init__(message)
        self.refused = refused


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


# Data-only globals that training scripts often leave in a checkpoint (``best_acc`` as a numpy
# scalar): allowed on top of torch's weights-only defaults.
_DATA_GLOBALS = ("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar", "numpy.dtype")


def _data_global(name: str) -> object | None:
    """The object behind an allowed data-only global name, else None."""
    import importlib

    if name not in _DATA_GLOBALS and not name.startswith("numpy.dtypes."):
        return None
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _numpy_dtype_classes() -> list[type]:
    """numpy's dtype classes (``numpy.dtypes.Float64DType`` ...): data only, no code."""
    try:
        import numpy.dtypes as dtypes
    except ImportError:
        return []
    return [c for n, c in vars(dtypes).items() if n.endswith("DType") and isinstance(c, type)]


def _read(path: Path, trusted: bool) -> object:
    """``torch.load`` onto the CPU, weights-only unless ``trusted``; CheckpointError says why not."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as e:
        if trusted or "Weights only load failed" not in str(e):
            raise CheckpointError(
                f"checkpoint {path} could not be read ({type(e).__name__}: {str(e).splitlines()[0]}); "
                "it is truncated or not a torch checkpoint: delete it and download or train it "
                "again") from e
        first = e
    # weights-only refused some Python objects: allow data-only ones, name the others
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - older torch, a legacy (non-zip) file, or not a checkpoint
        names = re.findall(r"Unsupported global: GLOBAL (\S+)", str(first))
    if not names:  # nothing named: not a refused object but an unreadable file (an HTML page ...)
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(first).__name__}: {_reason(first)}); "
            "it is truncated or not a torch checkpoint: "
            "delete it and download or train it again") from first
    allowed = [_data_global(n) for n in names]
    if names and all(a is not None for a in allowed):
        try:  # numpy scalars also need their dtype classes (numpy.dtypes.*), named only on load
            with torch.serialization.safe_globals(allowed + _numpy_dtype_classes()):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            pass
    refused = ", ".join(n for n, a in zip(names, allowed) if a is None) or ", ".join(names)
    if _is_pinned(path):  # the published file (sha256 verified): trusted as it is
        return torch.load(path, map_location="cpu", weights_only=False)
    raise UnsafeCheckpointError(
        f"checkpoint {path} is not corrupt, but besides tensors it holds Python objects that "
        f"torch's safe loader (weights_only=True) refuses: {refused}. If you trust where the "
        "file came from, load it with lk.load_checkpoint(path, trusted=True); or re-save just "
        "its tensors: torch.save({'state_dict': model.state_dict()}, path)", refused) from first


def _reason(error: BaseException) -> str:
    """The informative line of torch.load's long weights-only message (e.g. "Unsupported operand 60")."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    skip = ("Weights only load failed", "Check the documentation", "Please file", "(1)", "(2)",
            "WeightsUnpickler error:")
    useful = [ln for ln in lines if not ln.startswith(skip)]
    return (useful or lines or [type(error).__name__])[0][:200]


def _is_pinned(path: Path) -> bool:
    """Whether ``path`` is a checkpoint verified as published (its sha256 is pinned)."""
    import hashlib

    from .profiles import pinned_sha256s

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest() in pinned_sha256s()


def load_checkpoint(path: str | Path, model: nn.Module | None = None, *, trusted: bool = False) -> nn.Module:
    """Load a checkpoint in the lab's format (``{'state_dict': ...}``) or a bare state dict.

    Accepts what the lab's ``model.load_state_dict(checkpoint['state_dict'])`` accepts: other
    entries next to ``state_dict`` (an epoch, an accuracy, numpy scalars) are ignored, and
    BatchNorm's ``num_batches_tracked`` may be missing (older torch did not save it; it is set
    to 0, as torch does). Loads with ``weights_only=True`` (torch's safe default), allowing
    numpy scalars and dtypes too. When ``model`` is None, a :class:`VGG` is built with the conv
    widths found in the file (so channel-pruned checkpoints load too).

    Args:
        path: the checkpoint file.
        model: load into this model (its device is kept); None builds a VGG.
        trusted: load with ``weights_only=False`` (any Python object; only for files you trust).
            A file whose sha256 is pinned as the published checkpoint
            (:func:`labkit.profiles.pinned_sha256s`) is trusted without it.

    Returns:
        The model, on CPU unless ``model`` was given (then its device is kept).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: it holds objects the safe loader refuses (not corrupt).
        CheckpointError: the file is unreadable (truncated, not a torch file), holds no state
            dict, or its tensors do not fit the model;
            the message names the file and the problem (each missing, unexpected or
            mis-shaped tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    obj = _read(path, trusted)
    state_dict = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state_dict, dict) or not any(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(
            f"checkpoint {path} holds no state dict (expected {{'state_dict': {{name: tensor}}}}, "
            f"found {type(state_dict if isinstance(obj, dict) else obj).__name__})"
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
    state_dict = dict(state_dict)
    for k in own:  # what BatchNorm's loader fills in for state dicts saved by older torch
        if k.endswith("num_batches_tracked") and k not in state_dict:
            state_dict[k] = torch.zeros_like(own[k], device="cpu")
    problems = [f"missing {k}" for k in own if k not in state_dict]
    problems += [f"unexpected {k}" + ("" if isinstance(v, torch.Tensor) else f" (a {type(v).__name__}, not a tensor)")
                 for k, v in state_dict.items() if k not in own]
    problems += [f"{k}: a {type(v).__name__}, not a tensor" for k, v in state_dict.items()
                 if k in own and not isinstance(v, torch.Tensor)]
    problems += [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
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
