"""Process-wide conveniences: seeds, devices, the data folder, grading-mode detection, and the
floating-point modes of the lab's arithmetic (exact fp32 for what is compared, fast modes for
training only where the hardware has them natively).
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

__all__ = [
    "seed_everything", "get_device", "is_autograding", "is_fast_grading", "FAST_GRADING_ENV", "data_dir", "model_device",
    "exact_fp32", "fp32_modes", "native_bf16", "training_precision", "training_precision_name",
]


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device() -> torch.device:
    """Return the best available device: ``cuda``, then ``mps``, then ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: torch.nn.Module) -> torch.device:
    """Return the device of ``model``'s first parameter (CPU for a parameterless model)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def is_autograding() -> bool:
    """True when nbgrader (or ``labkit grade``) executes the notebook (``NBGRADER_EXECUTION`` set)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


FAST_GRADING_ENV = "LABKIT_FAST_GRADING"  # set to "1" by `labkit grade`


def is_fast_grading() -> bool:
    """True when the autograder grades on its fast path (``labkit grade`` sets
    ``LABKIT_FAST_GRADING=1`` in the kernel): the notebook's ungraded work runs on smaller
    amounts (see :mod:`labkit.budget`). Never true outside :func:`is_autograding`."""
    return is_autograding() and os.environ.get(FAST_GRADING_ENV) == "1"


def data_dir() -> Path:
    """Return the folder holding datasets and checkpoints.

    ``LABKIT_DATA_DIR`` wins; otherwise the repository's ``data/`` folder when labkit runs from
    a checkout (editable install), else ``~/.cache/labkit``.
    """
    env = os.environ.get("LABKIT_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if (repo_data.parent / "pyproject.toml").is_file():
        return repo_data
    return Path.home() / ".cache" / "labkit"


# The new (torch >= 2.9) per-backend precision flags that decide whether fp32 convolutions and
# matmuls may run at reduced precision (TF32 on CUDA, bf16/TF32 in oneDNN on CPU).
_NEW_FLAGS = (
    ("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"), ("mkldnn", "conv"), ("mkldnn", "matmul"),
)


def _new_api() -> bool:
    return hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision")


def _flag(backend: str, op: str) -> object:
    return getattr(getattr(torch.backends, backend), op)


def fp32_modes() -> dict[str, str]:
    """The current fp32 precision setting of each backend op, e.g. ``{"cudnn.conv": "tf32", ...}``.

    "ieee" = full fp32; "tf32"/"bf16" = reduced; "none" = inherit the parent's setting. On a
    torch without the per-op flags: ``{"cuda.matmul": "tf32"|"ieee", "cudnn.conv": ...}``
    from the legacy ``allow_tf32`` flags.
    """
    if _new_api():
        return {f"{b}.{o}": str(_flag(b, o).fp32_precision) for b, o in _NEW_FLAGS}
    return {
        "cuda.matmul": "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee",
        "cudnn.conv": "tf32" if torch.backends.cudnn.allow_tf32 else "ieee",
    }


@contextlib.contextmanager
def _precision(mode: str, ops: tuple[tuple[str, str], ...] = _NEW_FLAGS) -> Iterator[None]:
    """Set the fp32 precision of ``ops`` to ``mode`` ("ieee" or "tf32"); restore them afterwards."""
    if _new_api():
        saved = [(b, o, _flag(b, o).fp32_precision) for b, o in ops]
        try:
            for b, o, _ in saved:
                if mode == "ieee" or b != "mkldnn":  # oneDNN TF32 is left to the user
                    _flag(b, o).fp32_precision = mode
            yield
        finally:
            for b, o, value in saved:
                _flag(b, o).fp32_precision = value
        return
    allow = mode == "tf32"  # torch < 2.9: the legacy flags
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved_legacy = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.backends.cudnn.allow_tf32 = allow
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved_legacy


@contextlib.contextmanager
def _exact() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(_precision("ieee"))
        for device_type in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
            stack.enter_context(torch.autocast(device_type, enabled=False))
        yield


def exact_fp32() -> contextlib.AbstractContextManager[None]:
    """Run fp32 convolutions and matmuls in full fp32 (no TF32, no oneDNN bf16, no autocast);
    restore everything afterwards.

    torch lets cuDNN convolutions use TF32 by default on Ampere and later GPUs (A100, H100,
    RTX 30xx+): about 10 mantissa bits, enough to move a VGG's logits by ~5e-4 and to fail a
    correct ``check_same_function``. An autocast region around the call (e.g. a training loop's
    bf16 autocast) is switched off inside too. Everything the lab compares (evaluation, checks,
    the scan, latency) runs inside this context manager, which works as a decorator too (like
    ``torch.backends.cudnn.flags``). Without a GPU nothing changes numerically on the CPU.

    Example:
        >>> with lk.exact_fp32():
        ...     logits = model(images)
    """
    return _exact()


def native_bf16(device: torch.device | str) -> bool:
    """True when ``device`` is a CUDA GPU with native bf16 (compute capability >= 8.0: A100, H100,
    RTX 30xx+, L4); False on T4/V100 (bf16 only emulated), CPU and MPS."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    try:
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True
    except TypeError:  # torch without the including_emulation argument
        pass
    return torch.cuda.get_device_capability(device)[0] >= 8


def training_precision_name(device: torch.device | str) -> str:
    """What :func:`training_precision` uses on ``device``: "bf16 autocast + tf32" or "fp32"."""
    return "bf16 autocast + tf32" if native_bf16(device) else "fp32"


@contextlib.contextmanager
def training_precision(
    device: torch.device | str,
) -> Iterator[Callable[[], contextlib.AbstractContextManager[object]]]:
    """The fast arithmetic of reference training on ``device``.

    Yields a function returning the context for one forward pass and loss: on a GPU with native
    bf16 (compute capability >= 8.0) bf16 autocast, with TF32 allowed for what stays fp32
    (inside this block only); on anything else (T4/V100, CPU, MPS) a no-op: plain fp32, no
    autocast. The backward pass runs outside the per-step context, as torch recommends.
    The flags are restored afterwards.

    Example:
        >>> with training_precision(device) as autocast:
        ...     with autocast():
        ...         loss = criterion(model(x), y)
        ...     loss.backward()
    """
    device = torch.device(device)
    if not native_bf16(device):
        yield contextlib.nullcontext
        return
    with _precision("tf32", (("cuda", "matmul"), ("cudnn", "conv"))):
        yield lambda: torch.autocast(device.type, dtype=torch.bfloat16)
