"""Images per second of the lab's loop vs labkit's fast loop, one training epoch + one eval.

The lab's loop: torchvision ``CIFAR10`` + PIL transforms (RandomCrop, Flip, ToTensor) in a
``DataLoader(num_workers=0)``, batches copied to the device each step. labkit's fast loop: the
whole split held on the model's device as one uint8 tensor, crop and flip done there in batch
(:class:`labkit.device_loader.DeviceLoader`), plus channels_last and, on CUDA, bf16 autocast. Both train the
same VGG with the same optimizer on the same generated data shaped like CIFAR-10; rounds are
interleaved (lab, fast, lab, fast ...) and each figure is the median over rounds.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from labkit.data import make_loaders
from labkit.models import VGG
from labkit.runtime import get_device
from labkit.synthetic import write_tiny_cifar
from labkit.training import evaluate, train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _one_round(loaders: dict, width: float, device: torch.device, *, fast: bool) -> tuple[float, float]:
    """Seconds for one training epoch and one evaluation pass."""
    torch.manual_seed(0)
    model = VGG(width).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if fast and device.type == "cuda"
           else contextlib.nullcontext())
    with amp:
        _sync(device)
        t0 = time.perf_counter()
        train(model, loaders["train"], nn.CrossEntropyLoss(), optimizer, verbose=False)
        _sync(device)
        t1 = time.perf_counter()
        evaluate(model, loaders["test"], verbose=False)
        _sync(device)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def run(*, widths: list[float], train_images: int, test_images: int, rounds: int = 3,
        batch_size: int = 512) -> int:
    """Print images/s of both loops for each VGG width and their ratio (fast / lab).

    Args:
        widths: VGG width multipliers to time (1.0 = the lab's VGG).
        train_images: generated training images (rounded down to a multiple of 5).
        test_images: generated test images.
        rounds: interleaved rounds; each figure is the median over them.
        batch_size: both loops' batch size.
    """
    device = get_device()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_images -= train_images % 5  # 5 training batch files of equal size
        write_tiny_cifar(root, n_train=train_images, n_test=test_images, seed=0)
        common = dict(batch_size=batch_size, device=device)
        loaders = {"lab": make_loaders(root, fast=False, **common),
                   "fast": make_loaders(root, fast=True, **common)}
        print(f"   device {device}, {train_images} train + {test_images} test images "
              f"(32x32, CIFAR-10 format), batch {batch_size}, {rounds} interleaved rounds")
        print(f"   {'width':>5} {'loop':<5} {'train img/s':>12} {'eval img/s':>11}")
        for width in widths:
            times = {"lab": [], "fast": []}
            for _ in range(rounds):
                for kind in ("lab", "fast"):
                    times[kind].append(_one_round(loaders[kind], width, device, fast=kind == "fast"))
            rate = {kind: (train_images / statistics.median(t[0] for t in ts),
                           test_images / statistics.median(t[1] for t in ts))
                    for kind, ts in times.items()}
            for kind in ("lab", "fast"):
                print(f"   {width:>5} {kind:<5} {rate[kind][0]:>12.0f} {rate[kind][1]:>11.0f}")
            print(f"   {width:>5} ratio {rate['fast'][0] / rate['lab'][0]:>11.2f}x "
                  f"{rate['fast'][1] / rate['lab'][1]:>10.2f}x  (fast / lab)")
    return 0
