"""Train a profile's dense reference VGG, and the ``labkit train`` verb.

The tiny profile's checkpoint is trained here on the CPU in about a minute or two (the lab's
published checkpoint cannot be downloaded offline). The full profile uses the same code with
a GPU-oriented recipe: data resident on the GPU, on-device crop/flip, bf16 autocast,
channels_last, one-cycle LR, label smoothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from labkit.data import load_cifar_tensors
from labkit.device_loader import DeviceLoader
from labkit.models import VGG, save_checkpoint
from labkit.prepare import prepare
from labkit.profiles import Profile, resolve_profile
from labkit.runtime import get_device, seed_everything, training_precision, training_precision_name
from labkit.training import evaluate

__all__ = ["Recipe", "RECIPES", "train_reference", "ensure_reference", "slow_training_warning"]


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a reference training run (SGD + Nesterov, one-cycle LR).

    Attributes:
        epochs: passes over the training split.
        batch_size: images per step.
        lr: peak learning rate of the one-cycle schedule.
        momentum, weight_decay: SGD settings (Nesterov momentum).
        label_smoothing: of the cross-entropy loss.
        warmup: fraction of the steps spent rising to ``lr``.
    """

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.25


RECIPES: dict[str, Recipe] = {
    # 8,000 generated images x 30 epochs: ~1-2 min on 2 CPU cores, ~95 % test accuracy.
    "tiny": Recipe(epochs=30, batch_size=128, lr=0.1),
    # Real CIFAR-10 on one GPU (aim: >= 92.9 % in ~3 min on an H100; not measured here).
    "full": Recipe(epochs=40, batch_size=512, lr=0.2, warmup=0.2),
}


def _as_profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else resolve_profile(profile)


def fast_epoch(model: nn.Module, loader, criterion: nn.Module, optimizer: torch.optim.Optimizer,
               autocast, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> torch.Tensor:
    """One epoch of the reference recipe's step: images (N, 3, H, W) moved to the model's
    device in channels_last, the forward and loss under ``autocast()`` (from
    :func:`~labkit.runtime.training_precision`), backward, ``optimizer.step()``, then
    ``scheduler.step()`` per batch.

    Returns:
        The summed batch losses, a 0-d tensor on the model's device (no sync per step).
    """
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    for images, labels in loader:
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with autocast():
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.detach()
    return total


def train_reference(
    profile: Profile | str | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    verbose: bool = True,
    device: torch.device | str | None = None,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> tuple[VGG, float]:
    """Train the dense VGG of ``profile`` from scratch with its recipe.

    Args:
        profile: a :class:`Profile` or its name (None: :func:`resolve_profile`).
        epochs: override the recipe's epochs (e.g. 1 for a smoke test).
        seed: seeds initialisation, shuffling and augmentation (same seed and machine ->
            same weights).
        verbose: progress bar and a summary line.
        device: default :func:`get_device`.
        train_subset, test_subset: use only the first this-many images of each split
            (smoke tests).

    Returns:
        ``(model, accuracy)``: the trained model (eval mode, on ``device``) and its test
        accuracy as a fraction.

    Raises:
        DataNotFoundError: the full profile without CIFAR-10 (and no internet).
    """
    profile = _as_profile(profile)
    recipe = RECIPES[profile.name]
    epochs = recipe.epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"epochs={epochs} must be >= 1")
    device = torch.device(device) if device is not None else get_device()
    prepare(profile, model=False, download=True, verbose=verbose)  # the dataset only
    seed_everything(seed)

    splits = {}
    for split, size in (("train", train_subset), ("test", test_subset)):
        images, labels = load_cifar_tensors(profile.data_root, train=split == "train")
        splits[split] = (images[:size], labels[:size]) if size is not None else (images, labels)
    drop_last = len(splits["train"][1]) >= recipe.batch_size  # equal steps, unless tiny
    train_loader = DeviceLoader(*splits["train"], batch_size=recipe.batch_size, shuffle=True,
                                augment=True, drop_last=drop_last, device=device, seed=seed)
    test_loader = DeviceLoader(*splits["test"], batch_size=512, device=device)

    model = VGG(profile.width).to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                nesterov=True, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=epochs * len(train_loader),
        pct_start=recipe.warmup)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    t0 = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc=f"train {profile.name} VGG", leave=False, disable=not verbose)
    # bf16 autocast + TF32 only on GPUs that have them natively; plain fp32 elsewhere (T4/V100, CPU)
    with training_precision(device) as autocast:
        for _ in bar:
            total = fast_epoch(model, train_loader, criterion, optimizer, autocast, scheduler)
            bar.set_postfix(loss=f"{float(total) / len(train_loader):.3f}")
    model = model.to(memory_format=torch.contiguous_format).eval()
    accuracy = evaluate(model, test_loader, verbose=False)  # full fp32 (exact_fp32)
    if verbose:
        print(f"trained the {profile.name} reference VGG: {epochs} epochs in "
              f"{time.perf_counter() - t0:.0f} s on {device} ({training_precision_name(device)}), "
              f"test accuracy={accuracy:.2%}")
    return model, accuracy


def slow_training_warning(profile: Profile | str | None = None,
                          device: torch.device | str | None = None) -> str | None:
    """Why training ``profile`` on ``device`` (default: :func:`get_device`) needs a confirmation,
    or None: the full profile's recipe without a GPU takes many hours."""
    profile = _as_profile(profile)
    device = torch.device(device) if device is not None else get_device()
    if profile.name != "full" or device.type == "cuda":
        return None
    return (f"training the full VGG ({RECIPES['full'].epochs} epochs on 50,000 images) without a "
            f"GPU ({device.type}) takes many hours (about 3 min on an H100); train it on a GPU, "
            "or run `labkit fetch` to download the published checkpoint")


def ensure_reference(
    profile: Profile | str | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    force: bool = False,
    verbose: bool = True,
) -> Path:
    """Return the path of the profile's trained checkpoint, training and saving it first if missing.

    For the tiny profile the generated dataset is written first when missing.

    The model is saved to ``profile.trained_checkpoint``: for the full profile its own name,
    ``vgg.cifar.selftrained.pth``, never the published checkpoint's (which ``labkit fetch``
    verifies by sha256); the profile then reports it as self-trained. The file stores
    ``state_dict`` plus ``accuracy``, ``seed``, ``epochs`` and ``profile``. An existing one is
    reused unless ``force``.
    """
    profile = _as_profile(profile)
    if profile.name == "tiny":
        prepare(profile, model=False, verbose=verbose)  # the dataset; cheap when present
    target = profile.trained_checkpoint or profile.checkpoint
    if target.is_file() and not force:
        if verbose:
            info = torch.load(target, map_location="cpu", weights_only=True)
            acc = f", test accuracy={info['accuracy']:.2%}" if "accuracy" in info else ""
            print(f"reusing {target}{acc} (pass force=True / --force to retrain)")
        return target
    epochs = RECIPES[profile.name].epochs if epochs is None else epochs
    model, accuracy = train_reference(profile, epochs=epochs, seed=seed, verbose=verbose)
    save_checkpoint(model, target, accuracy=accuracy, seed=seed, epochs=epochs,
                    profile=profile.name)
    if verbose:
        kind = " (self-trained: the full profile uses it when the published one is absent)" \
            if target != profile.published_checkpoint and profile.name == "full" else ""
        print(f"saved {target}{kind}")
    return target
