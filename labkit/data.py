"""CIFAR-10 (real or the tiny profile's generated copy): datasets, tensor cache and loaders.

The lab's pipeline: train = ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()`` +
``ToTensor()``, test = ``ToTensor()``, no normalisation; ``DataLoader(batch_size=512,
shuffle=train, num_workers=0)``. The same reader serves real CIFAR-10 and generated files.

Shapes: N = images, C = 3, H = W = 32.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterable

import torch
from torch.utils.data import DataLoader, Subset

from .device_loader import DeviceLoader
from .fetch import safe_extractall
from .profiles import Profile

__all__ = [
    "LocalCIFAR10",  # noqa: F822 (a module __getattr__ builds it on first use)
    "DataNotFoundError", "ensure_cifar10", "load_cifar_tensors", "make_loaders",
]

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
CACHE_VERSION = 1


class DataNotFoundError(FileNotFoundError):
    """The dataset is not on disk and could not be downloaded."""


# The batch files of cifar-10-batches-py (torchvision's CIFAR10.train_list/test_list/meta names).
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"


def _local_cifar10_class() -> type:
    """Build :class:`LocalCIFAR10` on first use: torchvision costs ~1.5-3 s of import (it pulls in
    torch._dynamo), which a notebook on the tensor cache (the fast loaders, every graded kernel)
    never needs."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.vision import VisionDataset

    class _LocalCIFAR10(CIFAR10):
        """torchvision's CIFAR10 without its md5 checks, plus a decoded-tensor cache.

        torchvision refuses any file whose md5 differs from the published one, so generated files
        in the genuine format would not load; with md5 None it only checks that the files exist.
        Real CIFAR-10 loads unchanged. The decoded split is cached as ``labkit-cache-<split>.pt``
        next to the batch files (rebuilt when a batch file's size or mtime changes).

        Args: as ``torchvision.datasets.CIFAR10``, plus ``cache`` (use and write the tensor cache).
        """

        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

        def __init__(
            self,
            root: str | Path,
            train: bool = True,
            transform=None,
            target_transform=None,
            download: bool = False,
            *,
            cache: bool = True,
        ) -> None:
            if not download and (Path(root) / ARCHIVE).is_file():
                ensure_cifar10(root)  # extract a downloaded archive on first use
            cached = _read_cache(Path(root), train) if cache and not download else None
            if cached is None:
                super().__init__(root, train, transform, target_transform, download)
                if cache:
                    images = torch.from_numpy(self.data).permute(0, 3, 1, 2).contiguous()
                    labels = torch.tensor(self.targets, dtype=torch.long)
                    _write_cache(Path(root), train, images, labels)
                return
            VisionDataset.__init__(self, root, transform=transform, target_transform=target_transform)
            self.train = train
            images, labels = cached
            self.data = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C) like torchvision
            self.targets = labels.tolist()
            self._load_meta()

    _LocalCIFAR10.__name__ = _LocalCIFAR10.__qualname__ = "LocalCIFAR10"
    _LocalCIFAR10.__module__ = __name__
    return _LocalCIFAR10


def _local_cifar10() -> type:
    """Return :class:`LocalCIFAR10`, building it (and importing torchvision) the first time."""
    if "LocalCIFAR10" not in globals():
        globals()["LocalCIFAR10"] = _local_cifar10_class()
    return globals()["LocalCIFAR10"]


def __getattr__(name: str):  # PEP 562: ``labkit.data.LocalCIFAR10`` is made when first asked for
    if name == "LocalCIFAR10":
        return _local_cifar10()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _batch_files(root: Path, train: bool) -> list[Path]:
    return [root / FOLDER / name for name in (TRAIN_FILES if train else TEST_FILES)]


def _cache_key(root: Path, train: bool) -> list[list[int | str]]:
    key: list[list[int | str]] = [["version", CACHE_VERSION]]
    for f in _batch_files(root, train):
        st = f.stat()
        key.append([f.name, st.st_size, st.st_mtime_ns])
    return key


def _cache_path(root: Path, train: bool) -> Path:
    return root / FOLDER / f"labkit-cache-{'train' if train else 'test'}.pt"


def _read_cache(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    path = _cache_path(root, train)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if obj["key"] == _cache_key(root, train):
            return obj["images"], obj["labels"]
    except (OSError, RuntimeError, KeyError, EOFError, TypeError, ValueError):
        pass  # missing, stale or unreadable: decode the batches again
    return None


def _write_cache(root: Path, train: bool, images: torch.Tensor, labels: torch.Tensor) -> None:
    path = _cache_path(root, train)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save({"key": _cache_key(root, train), "images": images, "labels": labels}, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError):  # read-only data folder (torch.save raises RuntimeError
        tmp.unlink(missing_ok=True)   # for a file it cannot open): run without the cache


def _missing(root: Path) -> list[str]:
    names = [*TRAIN_FILES, *TEST_FILES, META_FILE]
    return [n for n in names if not (root / FOLDER / n).is_file()]


def ensure_cifar10(root: str | Path, *, download: bool = False) -> Path:
    """Make sure ``root/cifar-10-batches-py`` is complete; return that folder.

    In order: use the extracted folder; else extract ``root/cifar-10-python.tar.gz`` if present;
    else, with ``download``, let torchvision download and md5-check the real archive.

    Raises:
        DataNotFoundError: the data is not there (and could not be downloaded); the message
            says where to put the archive, and how to use the tiny profile instead.
    """
    root = Path(root)
    if not _missing(root):
        return root / FOLDER
    archive = root / ARCHIVE
    if archive.is_file():
        with tarfile.open(archive, "r:gz") as tar:
            safe_extractall(tar, root)  # filter="data", or the same checks before Python 3.11.4
        if not _missing(root):
            return root / FOLDER
    error = ""
    if download:
        try:
            from torchvision.datasets import CIFAR10

            CIFAR10(root, train=True, download=True)
            return root / FOLDER
        except (OSError, RuntimeError) as e:  # URLError is an OSError
            error = f"download failed ({type(e).__name__}: {e}). "
    raise DataNotFoundError(
        f"CIFAR-10 not found: {root / FOLDER} is missing {', '.join(_missing(root))}. {error}"
        f"Put {ARCHIVE} (https://www.cs.toronto.edu/~kriz/cifar.html) in {root}/ (extracted or "
        "not), or run `labkit fetch` where there is internet, or use the offline tiny profile: "
        "LABKIT_PROFILE=tiny."
    )


def load_cifar_tensors(root: str | Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a whole split as tensors: images (N, 3, 32, 32) uint8, labels (N,) int64.

    Reads through :class:`LocalCIFAR10` and its cache (fast after the first call).
    """
    ensure_cifar10(root)
    cached = _read_cache(Path(root), train)
    if cached is not None:
        return cached
    ds = _local_cifar10()(root, train=train)  # decodes the batches, writes the cache
    return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)


def _subset_indices(n: int, size: int | None, seed: int) -> torch.Tensor | None:
    if size is None:
        return None
    if not 0 < size <= n:
        raise ValueError(f"subset size {size} must be in [1, {n}] (the split has {n} images)")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:size].sort().values


def make_loaders(
    profile_or_root: Profile | str | Path,
    *,
    batch_size: int = 512,
    train_subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    fast: bool = False,
    device: torch.device | str | None = None,
) -> dict[str, Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    """Build the lab's ``{"train": ..., "test": ...}`` loaders.

    Args:
        profile_or_root: a :class:`Profile` (the full profile may download CIFAR-10; the tiny
            one generates its data when missing) or a dataset root folder.
        batch_size: images per batch (the lab: 512).
        train_subset, test_subset: use this many images, drawn at random with ``seed``
            (same seed -> same images); None = the whole split.
        seed: seed of the subsets, the shuffling and (``fast``) the augmentation.
        fast: a :class:`DeviceLoader` holding the split on ``device``, augmenting there;
            otherwise torch ``DataLoader``s over :class:`LocalCIFAR10`, as in the lab.
        device: for ``fast``, where the data lives (default CPU); otherwise pins memory
            when it is a CUDA device.

    Returns:
        ``{"train": loader, "test": loader}``; both yield (images (B, 3, 32, 32) float in
        [0, 1], labels (B,) int64); train is shuffled and augmented, test is not.

    Raises:
        DataNotFoundError: no data (see :func:`ensure_cifar10`; the tiny profile's is generated by
            :func:`labkit.prepare.prepare`).
        ValueError: a subset size larger than its split or < 1.

    Example:
        >>> loaders = make_loaders(resolve_profile(), test_subset=1000, fast=True)
    """
    root = profile_or_root.data_root if isinstance(profile_or_root, Profile) else Path(profile_or_root)
    try:
        ensure_cifar10(root)
    except DataNotFoundError as e:
        if isinstance(profile_or_root, Profile) and profile_or_root.name == "tiny":
            raise DataNotFoundError(
                f"the tiny dataset is not in {root}: labkit.prepare.prepare('tiny') (or lk.setup()) "
                "generates it in a few seconds") from e
        raise
    device = torch.device(device) if device is not None else None
    sizes = {"train": train_subset, "test": test_subset}
    loaders: dict[str, Iterable[tuple[torch.Tensor, torch.Tensor]]] = {}
    for i, split in enumerate(("train", "test")):
        train = split == "train"
        if fast:
            images, labels = load_cifar_tensors(root, train=train)
            idx = _subset_indices(len(labels), sizes[split], seed + i)
            if idx is not None:
                images, labels = images[idx], labels[idx]
            loaders[split] = DeviceLoader(images, labels, batch_size=batch_size, shuffle=train,
                                          augment=train, device=device or "cpu", seed=seed + i)
            continue
        from torchvision import transforms

        tf = transforms.Compose([transforms.RandomCrop(32, padding=4),
                                 transforms.RandomHorizontalFlip(), transforms.ToTensor()])
        dataset = _local_cifar10()(root, train=train, transform=tf if train else transforms.ToTensor())
        idx = _subset_indices(len(dataset), sizes[split], seed + i)
        loaders[split] = DataLoader(
            Subset(dataset, idx.tolist()) if idx is not None else dataset,
            batch_size=batch_size, shuffle=train, num_workers=0,
            pin_memory=device is not None and device.type == "cuda",
            generator=torch.Generator().manual_seed(seed + i) if train else None,
        )
    return loaders
