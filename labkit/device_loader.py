"""A fast loader that keeps a whole split on one device and augments there, in batches.

It replaces ``DataLoader(CIFAR10(transform=...))`` where decoding and per-image PIL transforms
would dominate (small models on CPU, any model on a GPU). The augmentation has the same
distribution as the lab's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``: a crop
offset uniform in {0..8}^2 of the zero-padded image, and a flip with probability 1/2.

Shapes: N = images in the split, B = batch, C = 3, H = W = 32.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

__all__ = ["DeviceLoader", "random_crop_flip"]


def random_crop_flip(
    images: torch.Tensor,
    *,
    padding: int = 4,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly crop (zero padding) and horizontally flip each image of a batch.

    The offsets and flips are drawn on ``generator``'s device (default: the images' device,
    with that device's default generator): with a generator on the images' device, no
    host-to-device copy is made, so a GPU's queue never waits for the host.

    Args:
        images: (B, C, H, W), any dtype, on any device.
        padding: zero padding on each side before the crop (the crop has the input's size).
        generator: generator for the offsets and flips (seeded -> reproducible), best on the
            images' device.

    Returns:
        (B, C, H, W) tensor, same dtype and device: image b is ``pad(images[b])[:, i:i+H, j:j+W]``
        with i, j uniform in {0..2*padding}, flipped left-right with probability 1/2.
    """
    if padding < 0:
        raise ValueError(f"padding={padding} must be >= 0")
    b, _, h, w = images.shape
    device = images.device
    draw = generator.device if generator is not None else device
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator, device=draw)
    flips = torch.rand(b, generator=generator, device=draw) < 0.5
    if draw != device:  # a generator elsewhere (e.g. on the CPU): one copy of each draw
        offsets, flips = offsets.to(device), flips.to(device)
    padded = torch.nn.functional.pad(images, (padding,) * 4)  # (B, C, H+2p, W+2p), zeros
    rows = offsets[0][:, None] + torch.arange(h, device=device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)  # flip = reversed columns
    batch = torch.arange(b, device=device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C): advanced dims first
    return out.permute(0, 3, 1, 2).contiguous()


class DeviceLoader:
    """Iterate over ``(images, labels)`` batches of a split held on one device.

    Args:
        images: (N, C, H, W) uint8 in [0, 255] or float in [0, 1]; kept as given (uint8 is
            4x smaller) and converted per batch.
        labels: (N,) integer class labels.
        batch_size: images per batch (the last one may be smaller unless ``drop_last``).
        shuffle: visit the images in a new seeded random order each epoch.
        augment: random crop (zero padding 4) + horizontal flip, as the lab's train transform.
        drop_last: drop the last, incomplete batch.
        device: where the data lives and batches come out; default: where ``images`` are.
        seed: seed of the generator that drives shuffling and augmentation. The generator
            (``self.generator``, a ``torch.Generator`` on ``device``; ``get_state`` /
            ``set_state`` save and restore it) draws on the device itself, so no batch needs
            a host-to-device copy.
        dtype: floating dtype of the yielded images.

    Yields:
        images (B, C, H, W) ``dtype`` in [0, 1], labels (B,) int64, both on ``device``.

    Example:
        >>> loader = DeviceLoader(x_uint8, y, batch_size=512, shuffle=True, augment=True)
        >>> for images, labels in loader: ...
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int = 512,
        shuffle: bool = False,
        augment: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if images.dim() != 4 or labels.dim() != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images {tuple(images.shape)} and labels {tuple(labels.shape)} must be "
                "(N, C, H, W) and (N,) with the same N"
            )
        if images.dtype != torch.uint8 and not images.is_floating_point():
            raise ValueError(f"images dtype {images.dtype} must be uint8 or floating point")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        device = torch.device(device) if device is not None else images.device
        self.images = images.to(device)
        self.labels = labels.to(device=device, dtype=torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.device = device
        self.dtype = dtype
        self.generator = torch.Generator(device=device).manual_seed(seed)

    @property
    def num_samples(self) -> int:
        """Images in the split (N)."""
        return int(self.labels.shape[0])

    def __len__(self) -> int:
        """Batches per epoch."""
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.to(self.dtype).div_(255)
        return x.to(self.dtype)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_samples
        order = (torch.randperm(n, generator=self.generator, device=self.generator.device)
                 if self.shuffle else None)
        for k in range(len(self)):
            lo, hi = k * self.batch_size, min((k + 1) * self.batch_size, n)
            if order is None:
                x, y = self.images[lo:hi], self.labels[lo:hi]
            else:
                idx = order[lo:hi]  # on the device already
                x, y = self.images[idx], self.labels[idx]
            if self.augment:
                x = random_crop_flip(x, generator=self.generator)
            yield self._to_float(x), y

    def __repr__(self) -> str:
        return (f"DeviceLoader(N={self.num_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, augment={self.augment}, device={self.device})")
