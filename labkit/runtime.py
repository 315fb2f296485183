"""Process-wide conveniences: seeds, devices, the data folder, and grading-mode detection."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "get_device", "is_autograding", "data_dir", "model_device"]


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
